"""Hugging Face tokenizers for GLM models, for ``trust_remote_code``.

This file is copied into exported model folders and depends on transformers, torch, ``regex``,
``tokenizers`` and (Chinese only) ``sentencepiece``. ``tokenizer_config.json`` lists GLM's
command tokens (``[MASK]``, ``[gMASK]``, ``<|startofpiece|>``, ...) with their ids, so one class
per text vocabulary serves every GLM tokenizer setting: ``GLMGPT2Tokenizer`` (GPT-2 and
RoBERTa byte-level BPE), ``GLMBertTokenizer`` (WordPiece) and ``GLMChineseTokenizer``
(SentencePiece). Text is split on command strings first (``[MASK]``-like tokens marked lstrip
swallow the whitespace before them), then each piece is encoded on its own, which gives the
ids GLM was trained on.

``tokenizer(text)`` gives ``[CLS] text [eos]`` (no ``[eos]`` after a final ``[gMASK]``), as
GLM's generation builds its context. The blank-infilling inputs:

- ``build_inputs_for_generation(inputs, max_gen_length=512)`` -> ``input_ids`` (+ ``[sop]``),
  ``position_ids`` and ``generation_attention_mask`` for ``model.generate(...,
  eos_token_id=tokenizer.eop_token_id)``; it fills the first blank of each row;
- ``build_inputs_for_generation(inputs, targets=[...], padding=False)`` -> inputs and
  ``labels`` for the teacher-forced loss;
- ``build_inputs_for_multiple_choice(inputs, choices)`` -> inputs for
  ``AutoModelForMultipleChoice``.
Rows are right-padded; padding is masked out, never attended.
"""

import json
import os
import re
import shutil

import regex
import torch
from transformers import BatchEncoding, PreTrainedTokenizer

GPT2_SPLIT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> printable character map (a space is spelled ``Ġ``)."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table = {b: chr(b) for b in printable}
    extra = (b for b in range(256) if b not in table)
    table.update({b: chr(256 + n) for n, b in enumerate(extra)})
    return table


class ByteBPEText:
    """GPT-2 / RoBERTa byte-level BPE: GPT-2's word split, then BPE merges per word."""

    def __init__(self, vocab_file: str, merges_file: str):
        from tokenizers.models import BPE

        self.model = BPE.from_file(vocab_file, merges_file)
        with open(vocab_file, encoding="utf-8") as f:
            self.vocab = json.load(f)
        self.tokens = {i: t for t, i in self.vocab.items()}
        self.to_char = _byte_alphabet()
        self.to_byte = {c: b for b, c in self.to_char.items()}

    def encode(self, text: str) -> list[str]:
        pieces = []
        for word in GPT2_SPLIT.findall(text):
            spelled = "".join(self.to_char[b] for b in word.encode("utf-8"))
            pieces.extend(token.value for token in self.model.tokenize(spelled))
        return pieces

    def _bytes(self, token: str) -> bytes:
        if all(c in self.to_byte for c in token):
            return bytes(self.to_byte[c] for c in token)
        return token.encode("utf-8")

    def decode(self, ids: list[int], commands: dict[int, str]) -> str:
        parts = [
            commands[i].encode() if i in commands else self._bytes(self.tokens[i]) for i in ids
        ]
        return b"".join(parts).decode("utf-8", errors="replace")


class WordPieceText:
    """BERT: clean-up, lower-casing, punctuation split, WordPiece."""

    def __init__(self, vocab_file: str, do_lower_case: bool = True):
        from tokenizers import Tokenizer, normalizers, pre_tokenizers
        from tokenizers.models import WordPiece

        self.backend = Tokenizer(WordPiece.from_file(vocab_file, unk_token="[UNK]"))
        self.backend.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=do_lower_case
        )
        self.backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self.vocab = self.backend.get_vocab()
        self.tokens = {i: t for t, i in self.vocab.items()}

    def encode(self, text: str) -> list[str]:
        return self.backend.encode(text, add_special_tokens=False).tokens

    def decode(self, ids: list[int], commands: dict[int, str]) -> str:
        words: list[str] = []
        for i in ids:
            token = commands.get(i, self.tokens.get(i))
            if token.startswith("##") and words:
                words[-1] += token[2:]
            else:
                words.append(token)
        return " ".join(words)


class SentencePieceText:
    """GLM's Chinese SentencePiece model."""

    def __init__(self, vocab_file: str):
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor(model_file=vocab_file)
        self.vocab = {self.sp.id_to_piece(i): i for i in range(self.sp.get_piece_size())}
        self.tokens = {i: t for t, i in self.vocab.items()}

    def encode(self, text: str) -> list[str]:
        return self.sp.encode(text, out_type=str)

    def decode(self, ids: list[int], commands: dict[int, str]) -> str:
        out, run = [], []
        for i in ids:
            if i in commands:
                out += [self.sp.decode(run), commands[i]]
                run = []
            else:
                run.append(i)
        return "".join(out + [self.sp.decode(run)])


class GLMTokenizerBase(PreTrainedTokenizer):
    """Command-token handling and GLM's input builders; subclasses choose the text model."""

    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"

    def __init__(self, command_tokens: list[dict], **kwargs):
        self.command_tokens = command_tokens
        self._ids = {c["name"]: c["id"] for c in command_tokens}
        # Later entries win on shared strings and ids, as in GLM.
        self._string_to_id = {c["token"]: c["id"] for c in command_tokens}
        self._id_to_string = {c["id"]: c["token"] for c in command_tokens}
        self._lstrip = {c["token"] for c in command_tokens if c.get("lstrip")}
        strings = sorted(self._string_to_id, key=len, reverse=True)
        self._split = re.compile("(" + "|".join(map(re.escape, strings)) + ")")
        names = {"eos": "eos_token", "pad": "pad_token", "ENC": "cls_token", "MASK": "mask_token"}
        names.update({"unk": "unk_token", "sep": "sep_token"})
        for name, attribute in names.items():
            if name in self._ids:
                kwargs.setdefault(attribute, self._id_string(name))
        super().__init__(command_tokens=command_tokens, **kwargs)

    def _id_string(self, name: str) -> str:
        return next(c["token"] for c in self.command_tokens if c["name"] == name)

    # --- vocabulary -------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.text.vocab)

    def get_vocab(self) -> dict[str, int]:
        return {**self.text.vocab, **self._string_to_id}

    def _convert_token_to_id(self, token: str) -> int:
        if token in self._string_to_id:
            return self._string_to_id[token]
        return self.text.vocab.get(token, self._ids.get("unk", 0))

    def _convert_id_to_token(self, index: int) -> str:
        return self._id_to_string.get(index, self.text.tokens.get(index))

    def tokenize(self, text: str, **kwargs) -> list[str]:
        """Command strings split out first, the text between them encoded piece by piece."""
        if not text or text.isspace():
            return []
        parts = self._split.split(text)  # text, command, text, ..., text
        tokens: list[str] = []
        for k, part in enumerate(parts):
            if k % 2:
                tokens.append(part)
                continue
            if k + 1 < len(parts) and parts[k + 1] in self._lstrip:
                part = part.rstrip()
            if part:
                tokens.extend(self.text.encode(part))
        return tokens

    def _decode(self, token_ids, skip_special_tokens: bool = False, **kwargs) -> str:
        ids = [token_ids] if isinstance(token_ids, int) else [int(i) for i in token_ids]
        if skip_special_tokens:
            ids = [i for i in ids if i not in self._id_to_string]
        return self.text.decode(ids, self._id_to_string)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None):
        saved = []
        for attribute, name in self.vocab_files_names.items():
            target = os.path.join(save_directory, (filename_prefix or "") + name)
            if os.path.abspath(getattr(self, attribute)) != os.path.abspath(target):
                shutil.copyfile(getattr(self, attribute), target)
            saved.append(target)
        return tuple(saved)

    # --- GLM token ids ----------------------------------------------------------------------
    def _command_id(self, name: str) -> int | None:
        return self._ids.get(name)

    @property
    def sop_token_id(self) -> int:
        return self._ids["sop"]

    @property
    def eop_token_id(self) -> int:
        return self._ids["eop"]

    @property
    def gmask_token_id(self) -> int | None:
        return self._command_id("gMASK")

    @property
    def smask_token_id(self) -> int | None:
        return self._command_id("sMASK")

    @property
    def blank_token_ids(self) -> list[int]:
        """Ids that mark a blank: [MASK], [sMASK], [gMASK]."""
        return [
            i for i in (self._command_id(n) for n in ("MASK", "sMASK", "gMASK")) if i is not None
        ]

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None) -> list[int]:
        ids = [self._ids["ENC"], *token_ids_0, *(token_ids_1 or [])]
        if ids[-1] == self.gmask_token_id:
            return ids
        return [*ids, self._ids["eos"]]

    def get_special_tokens_mask(
        self, token_ids_0, token_ids_1=None, already_has_special_tokens=False
    ):
        if already_has_special_tokens:
            return [int(i in self._id_to_string) for i in token_ids_0]
        full = self.build_inputs_with_special_tokens(token_ids_0, token_ids_1)
        body = len(token_ids_0) + len(token_ids_1 or [])
        return [1] + [0] * body + [1] * (len(full) - body - 1)

    # --- blank-infilling inputs -------------------------------------------------------------
    def _batch(self, model_input) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.as_tensor(model_input["input_ids"])
        mask = model_input.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else torch.as_tensor(mask)
        if ids.dim() == 1:
            ids, mask = ids.unsqueeze(0), mask.unsqueeze(0)
        return ids, mask.bool()

    def _mask_position(self, ids: torch.Tensor, row: int) -> int:
        hits = torch.isin(ids, torch.tensor(self.blank_token_ids)).nonzero()
        if not len(hits):
            raise ValueError(
                f"input {row} has no [MASK], [sMASK] or [gMASK]: add one for the blank"
            )
        return int(hits[0])

    def _encode_targets(self, targets, max_gen_length: int) -> list[list[int]]:
        targets = [targets] if isinstance(targets, str) else list(targets)
        encoded = [self.convert_tokens_to_ids(self.tokenize(t)) for t in targets]
        return [ids[: max_gen_length - 1] + [self.eop_token_id] for ids in encoded]

    def build_inputs_for_generation(
        self, model_input, max_gen_length: int = 512, targets=None, padding: bool = False
    ) -> BatchEncoding:
        """Append Part B (one blank per row: the first mask token) to tokenized contexts."""
        ids, key_mask = self._batch(model_input)
        batch, length = ids.shape
        mask_positions = torch.tensor([self._mask_position(ids[r], r) for r in range(batch)])
        if targets is None:
            part_b = torch.full((batch, 1), self.sop_token_id, dtype=ids.dtype)
            labels = None
        else:
            encoded = self._encode_targets(targets, max_gen_length)
            if len(encoded) != batch:
                raise ValueError(f"{len(encoded)} targets for {batch} inputs: give one per input")
            if not padding:
                max_gen_length = max(map(len, encoded))
            part_b = torch.full((batch, max_gen_length), self.pad_token_id, dtype=ids.dtype)
            labels = torch.full((batch, length + max_gen_length), -100, dtype=ids.dtype)
            for r, target in enumerate(encoded):
                part_b[r, : len(target)] = torch.tensor([self.sop_token_id, *target[:-1]])
                labels[r, length : length + len(target)] = torch.tensor(target)
        total = length + max_gen_length
        generated = torch.arange(1, max_gen_length + 1).expand(batch, -1)
        positions = torch.cat([torch.arange(length).expand(batch, -1), 0 * generated], 1)
        positions[:, length:] = mask_positions.unsqueeze(1)
        blocks = torch.cat([torch.zeros(batch, length, dtype=torch.long), generated], 1)
        visible = torch.zeros(batch, total, total, dtype=torch.bool)
        visible[:, :, :length] = key_mask.unsqueeze(1)
        visible[:, length:, length:] = torch.ones(max_gen_length, max_gen_length).tril().bool()
        out = {
            "input_ids": torch.cat([ids, part_b], 1),
            "position_ids": torch.stack([positions, blocks], 1),
        }
        if labels is None:
            # generate() grows the key-padding mask; the model reads the full one.
            out["attention_mask"] = torch.cat([key_mask, key_mask.new_ones(batch, 1)], 1).long()
            out["generation_attention_mask"] = visible.unsqueeze(1)
        else:
            out.update(attention_mask=visible.unsqueeze(1), labels=labels)
        return BatchEncoding(out)

    def build_inputs_for_multiple_choice(
        self, model_input, choices, max_length=None
    ) -> BatchEncoding:
        """Pack every choice of a row after its context: ``[sop] choice[:-1]`` at the mask
        position, each choice seeing the context and itself only."""
        ids, key_mask = self._batch(model_input)
        choices = [choices] if choices and isinstance(choices[0], str) else choices
        rows = [
            self._pack_choices(ids[r][key_mask[r]].tolist(), choices[r], r) for r in range(len(ids))
        ]
        total = max(len(row[0]) for row in rows)
        if max_length is not None and total > max_length:
            raise ValueError(
                f"context plus choices take {total} tokens, over max_length {max_length}"
            )
        n_choices = max(len(row[3]) for row in rows)
        longest = max(len(c) for row in rows for c in row[3])
        out = {
            "input_ids": torch.full((len(rows), total), self.pad_token_id),
            "position_ids": torch.zeros(len(rows), 2, total, dtype=torch.long),
            "attention_mask": torch.zeros(len(rows), 1, total, total, dtype=torch.bool),
            "choice_ids": torch.full((len(rows), n_choices, longest), -100),
            "choice_indices": torch.zeros(len(rows), n_choices, longest, dtype=torch.long),
        }
        for r, (tokens, positions, visible, choice_ids, choice_indices) in enumerate(rows):
            n = len(tokens)
            out["input_ids"][r, :n] = torch.tensor(tokens)
            out["position_ids"][r, :, :n] = torch.tensor(positions)
            out["attention_mask"][r, 0, :n, :n] = visible
            for c, (target, index) in enumerate(zip(choice_ids, choice_indices, strict=True)):
                out["choice_ids"][r, c, : len(target)] = torch.tensor(target)
                out["choice_indices"][r, c, : len(index)] = torch.tensor(index)
        return BatchEncoding(out)

    def _pack_choices(self, context: list[int], choices: list[str], row: int):
        mask_position = self._mask_position(torch.tensor(context), row)
        tokens, blocks = list(context), [0] * len(context)
        positions = list(range(len(context)))
        choice_ids, choice_indices, spans = [], [], []
        for choice in choices:
            target = self.convert_tokens_to_ids(self.tokenize(choice))
            start = len(tokens)
            tokens += [self.sop_token_id, *target[:-1]]
            positions += [mask_position] * len(target)
            blocks += list(range(1, len(target) + 1))
            choice_ids.append(target)
            choice_indices.append(list(range(start, start + len(target))))
            spans.append((start, len(tokens)))
        visible = torch.zeros(len(tokens), len(tokens), dtype=torch.bool)
        visible[:, : len(context)] = True
        for start, end in spans:
            visible[start:end, start:end] = torch.ones(end - start, end - start).tril().bool()
        return tokens, [positions, blocks], visible, choice_ids, choice_indices


class GLMGPT2Tokenizer(GLMTokenizerBase):
    """GLM on GPT-2's (or RoBERTa's) byte-level BPE vocabulary."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt"}

    def __init__(self, vocab_file: str, merges_file: str, command_tokens: list[dict], **kwargs):
        self.vocab_file, self.merges_file = vocab_file, merges_file
        self.text = ByteBPEText(vocab_file, merges_file)
        super().__init__(command_tokens, **kwargs)


class GLMBertTokenizer(GLMTokenizerBase):
    """GLM on BERT's WordPiece vocabulary."""

    vocab_files_names = {"vocab_file": "vocab.txt"}

    def __init__(self, vocab_file: str, command_tokens: list[dict], do_lower_case=True, **kwargs):
        self.vocab_file = vocab_file
        self.text = WordPieceText(vocab_file, do_lower_case)
        super().__init__(command_tokens, do_lower_case=do_lower_case, **kwargs)


class GLMChineseTokenizer(GLMTokenizerBase):
    """GLM on its Chinese SentencePiece model (``cog-pretrain.model``)."""

    vocab_files_names = {"vocab_file": "cog-pretrain.model"}

    def __init__(self, vocab_file: str, command_tokens: list[dict], **kwargs):
        self.vocab_file = vocab_file
        self.text = SentencePieceText(vocab_file)
        super().__init__(command_tokens, **kwargs)
