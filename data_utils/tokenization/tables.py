"""GLM command tokens and their ids for each tokenizer type (spec §3.2-3.5).

Command tokens are the special symbols GLM adds to a text vocabulary: document end (`eos`/`pad`),
the blank-infilling symbols (`sop`, `eop`, `[MASK]`, `[gMASK]`, `[sMASK]`), `[CLS]` (named
`ENC`), `[SEP]`, `[UNK]`, `[dBLOCK]` and BERT's sentinel pairs. Each table below lists them in
GLM's order with GLM's ids, because released checkpoints index their embedding rows by these ids.
Every function returns the tokens and `num_tokens`, the vocabulary size before padding.
"""

from dataclasses import dataclass

EOT = "<|endoftext|>"
SOP = "<|startofpiece|>"
EOP = "<|endofpiece|>"


@dataclass(frozen=True)
class CommandToken:
    """A special symbol: its GLM name, the string that stands for it in text, and its id.

    `lstrip` tokens swallow the whitespace right before them when text is encoded.
    """

    name: str
    token: str
    id: int
    lstrip: bool = False
    rstrip: bool = False


def _append_consecutive(
    tokens: list[CommandToken], next_id: int, specs: list[tuple[str, str, bool]]
) -> int:
    """Append (name, string, lstrip) specs with ids next_id, next_id+1, ...; return the next id."""
    for name, string, lstrip in specs:
        tokens.append(CommandToken(name, string, next_id, lstrip=lstrip))
        next_id += 1
    return next_id


def _append_task_tokens(
    tokens: list[CommandToken], next_id: int, task_mask: bool, block_mask: bool, lstrip: bool
) -> int:
    """[gMASK], [sMASK] (with --task-mask), then [dBLOCK] (with block or context masking)."""
    if task_mask:
        next_id = _append_consecutive(
            tokens, next_id, [("gMASK", "[gMASK]", lstrip), ("sMASK", "[sMASK]", lstrip)]
        )
    if block_mask:
        next_id = _append_consecutive(tokens, next_id, [("dBLOCK", "[dBLOCK]", False)])
    return next_id


def bert_command_tokens(
    vocab_ids: dict[str, int],
    num_text: int,
    block_lm: bool,
    task_mask: bool,
    block_mask: bool,
    sentinel_pairs: int,
) -> tuple[list[CommandToken], int]:
    """BERT WordPiece: the five specials of the vocab, then appended sop/eop, sentinels, masks.

    `eos` is `[PAD]` (id 0), so documents are separated by id 0. No token is lstrip.
    """
    tokens = [
        CommandToken(name, string, vocab_ids[string])
        for name, string in (
            ("pad", "[PAD]"),
            ("ENC", "[CLS]"),
            ("MASK", "[MASK]"),
            ("unk", "[UNK]"),
            ("sep", "[SEP]"),
            ("eos", "[PAD]"),
        )
    ]
    next_id = num_text
    if block_lm:
        next_id = _append_consecutive(tokens, next_id, [("sop", SOP, False), ("eop", EOP, False)])
        for i in range(1, sentinel_pairs + 1):
            sentinel = [
                (f"MASK{i}", f"[MASK{i}]", False),
                (f"sop{i}", f"<|startofpiece{i}|>", False),
            ]
            next_id = _append_consecutive(tokens, next_id, sentinel)
    next_id = _append_task_tokens(tokens, next_id, task_mask, block_mask, lstrip=False)
    return tokens, next_id


def gpt2_command_tokens(
    eot_id: int, num_text: int, block_lm: bool, task_mask: bool, block_mask: bool
) -> tuple[list[CommandToken], int]:
    """GPT-2 byte BPE (and our trained ByteBPE): every symbol but `<|endoftext|>` is appended."""
    tokens = [CommandToken("pad", EOT, eot_id), CommandToken("eos", EOT, eot_id)]
    next_id = num_text
    if block_lm:
        block_symbols = [
            ("sop", SOP, False),
            ("eop", EOP, False),
            ("ENC", "[CLS]", False),
            ("MASK", "[MASK]", True),
            ("sep", "[SEP]", False),
            ("unk", "[UNK]", False),
        ]
        next_id = _append_consecutive(tokens, next_id, block_symbols)
    next_id = _append_task_tokens(tokens, next_id, task_mask, block_mask, lstrip=True)
    return tokens, next_id


def roberta_command_tokens(
    vocab_ids: dict[str, int], num_text: int, block_lm: bool, task_mask: bool, block_mask: bool
) -> tuple[list[CommandToken], int]:
    """RoBERTa: GLM's token strings mapped onto RoBERTa's own `<s>`, `</s>`, `<unk>`, `<mask>` ids.

    pad, eos and sep share `</s>` (2); the ids for decoding resolve to the last of them, `[SEP]`.
    """
    tokens = [
        CommandToken("pad", EOT, vocab_ids["</s>"]),
        CommandToken("eos", EOT, vocab_ids["</s>"]),
        CommandToken("sep", "[SEP]", vocab_ids["</s>"]),
        CommandToken("ENC", "[CLS]", vocab_ids["<s>"]),
        CommandToken("MASK", "[MASK]", vocab_ids["<mask>"], lstrip=True),
        CommandToken("unk", "[UNK]", vocab_ids["<unk>"]),
    ]
    next_id = num_text
    if block_lm:
        next_id = _append_consecutive(tokens, next_id, [("sop", SOP, False), ("eop", EOP, False)])
    next_id = _append_task_tokens(tokens, next_id, task_mask, block_mask, lstrip=True)
    return tokens, next_id


def chinese_command_tokens(
    num_text: int, block_lm: bool, task_mask: bool, block_mask: bool, fix_command_token: bool
) -> tuple[list[CommandToken], int]:
    """Chinese SentencePiece, with GLM's id gap (50005 unused) and its gMASK/eop collision.

    Without `fix_command_token`, `[gMASK]` gets the id of `eop` (50007), as GLM-10B-Chinese was
    trained; the id-to-token map then resolves 50007 to `[gMASK]`. With the fix, an extra id is
    skipped so that `[sMASK]` keeps 50008 and `[gMASK]` moves to 50009 (GLM-Large-Chinese).
    """
    tokens = [CommandToken("pad", EOT, num_text)]  # pad and eos share the first new id
    next_id = _append_consecutive(
        tokens,
        num_text,
        [
            ("eos", EOT, False),
            ("sep", "[SEP]", False),
            ("ENC", "[CLS]", False),
            ("MASK", "[MASK]", True),
            ("unk", "[UNK]", False),
        ],
    )
    if not block_lm:
        return tokens, _append_task_tokens(tokens, next_id, task_mask, block_mask, lstrip=True)
    _append_consecutive(tokens, next_id + 1, [("sop", SOP, False), ("eop", EOP, False)])
    next_id += 3 if fix_command_token else 2
    if task_mask:
        masks = [("gMASK", "[gMASK]", True), ("sMASK", "[sMASK]", True)]
        if fix_command_token:
            masks.reverse()
        next_id = _append_consecutive(tokens, next_id, masks)
    else:  # the collision slot is only for [gMASK]: nothing else may take eop's id
        next_id = max(token.id for token in tokens) + 1
    return tokens, _append_task_tokens(tokens, next_id, False, block_mask, lstrip=True)


def padded_vocab_size(num_tokens: int, divisible_by: int) -> int:
    """Round `num_tokens` up to a multiple of `--make-vocab-size-divisible-by` (spec §3.5)."""
    return -(-num_tokens // divisible_by) * divisible_by
