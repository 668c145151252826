"""The SuperGLUE PVPs (RTE, CB, BoolQ, MultiRC, WiC, COPA, WSC, ReCoRD), pattern for pattern as
GLM uses them. ``PROMPT`` marks a continuous-prompt slot, ``MASK`` the blank, ``Short`` a
shortenable part."""

from __future__ import annotations

import string
from typing import Any

from tasks.cloze_samples import InputExample, stack_rows
from tasks.superglue.pvp import MASK, PROMPT, PVP, Short, lcfirst, nofinal

P = PROMPT


class RtePVP(PVP):
    patterns = (0, 1, 2, 3, 4)
    prompts = True

    def parts(self, example: InputExample) -> tuple[list, list]:
        premise, hyp = Short(example.text_a), Short(example.text_b.rstrip(string.punctuation))
        pattern = self.pattern_id
        if pattern == 0:
            return [P, '"', hyp, '" ?'], [P, MASK, ",", P, ' "', premise, '"']
        if pattern == 1:
            return [P, hyp, "?"], [P, MASK, ",", P, Short(" " + premise.text)]
        if pattern == 2:
            return [P, '"', hyp, '" ?'], [P, MASK, '. "', P, premise, '"']
        if pattern == 3:
            return [P, hyp, "?"], [P, MASK, ".", P, Short(" " + premise.text)]
        return self.question_pattern(example), []

    def question_pattern(self, example: InputExample) -> list:
        hyp = Short(" " + example.text_b.rstrip(string.punctuation))
        return [
            P,
            Short(example.text_a),
            P,
            " question:",
            hyp,
            " True or False?",
            P,
            " answer:",
            MASK,
        ]

    def verbalizer(self) -> dict[str, str]:
        if self.pattern_id == 4:
            return {"entailment": " true", "not_entailment": " false"}
        return {"entailment": " Yes", "not_entailment": " No"}


class CbPVP(RtePVP):
    def question_pattern(self, example: InputExample) -> list:
        return [
            P,
            Short(example.text_a),
            P,
            " question:",
            Short(" " + example.text_b),
            " true, false or neither?",
            P,
            " answer:",
            MASK,
        ]

    def verbalizer(self) -> dict[str, str]:
        if self.pattern_id == 4:
            return {"contradiction": " false", "entailment": " true", "neutral": " neither"}
        return {"contradiction": " No", "entailment": " Yes", "neutral": " Maybe"}


class BoolQPVP(PVP):
    patterns = (0, 1, 2, 3, 4, 5)
    prompts = True

    def parts(self, example: InputExample) -> tuple[list, list]:
        passage, question = Short(example.text_a), Short(" " + example.text_b)
        if self.pattern_id < 2:
            return [P, passage, P, " Question:", question, "? Answer:", P, MASK, "."], []
        if self.pattern_id < 4:
            return [
                P,
                passage,
                " Based on the previous passage,",
                P,
                question,
                "?",
                P,
                MASK,
                ".",
            ], []
        return [
            "Based on the following passage",
            P,
            question,
            "?",
            P,
            MASK,
            ".",
            P,
            Short(" " + example.text_a),
        ], []

    def verbalizer(self) -> dict[str, str]:
        if self.pattern_id % 2 == 0:
            return {"false": " No", "true": " Yes"}
        return {"false": " false", "true": " true"}


class MultiRcPVP(PVP):
    patterns = (0, 1, 2, 3, 4)
    prompts = True

    def parts(self, example: InputExample) -> tuple[list, list]:
        passage = Short(nofinal(example.text_a.rstrip()))
        question = nofinal(example.text_b.rstrip())
        answer = example.meta["answer"]
        if self.pattern_id == 0:
            return [
                passage,
                ".",
                P,
                " Question:",
                " " + question + "?",
                P,
                " Is it",
                " " + answer,
                "?",
                P,
                MASK,
                ".",
            ], []
        if self.pattern_id == 1:
            return [
                passage,
                ".",
                P,
                " Question:",
                " " + question,
                "?",
                P,
                ' Is the correct answer "',
                answer,
                '"?',
                P,
                MASK,
                ".",
            ], []
        if self.pattern_id == 2:
            return [
                passage,
                ". Based on the previous passage,",
                P,
                " " + question,
                "?",
                P,
                ' Is "',
                answer,
                '" a correct answer?',
                P,
                MASK,
                ".",
            ], []
        if self.pattern_id == 3:
            return [P, passage, P, " " + question, "- [", MASK, "]", P, answer], []
        return [
            passage,
            ".",
            P,
            " Question:",
            " " + question,
            "?",
            P,
            " " + answer,
            "?",
            P,
            MASK,
            ".",
        ], []

    def verbalizer(self) -> dict[str, str]:
        if self.pattern_id == 3:
            return {"0": " False", "1": " True"}
        return {"0": " No", "1": " Yes"}


class WicPVP(PVP):
    patterns = (0, 1, 2)
    prompts = True

    def parts(self, example: InputExample) -> tuple[list, list]:
        s1, s2, word = example.text_a, example.text_b, example.meta["word"]
        if self.pattern_id == 0:
            return [
                P,
                Short('"' + s1 + '" / "' + s2 + '"'),
                P,
                ' Similar sense of "' + word + '"?',
                P,
                MASK,
                ".",
            ], []
        if self.pattern_id == 1:
            return [
                Short(s1),
                P,
                Short(" " + s2),
                P,
                " Does " + word + " have the same meaning in both sentences?",
                P,
                MASK,
            ], []
        return [
            P,
            word,
            " .",
            P,
            ' Sense (1) (a) "',
            Short(s1),
            '"',
            P,
            " (",
            MASK,
            ') "',
            s2,
            '"',
        ], []

    def verbalizer(self) -> dict[str, str]:
        if self.pattern_id == 2:
            return {"false": "2", "true": "b"}
        return {"false": " No", "true": " Yes"}


class CopaPVP(PVP):
    """Pattern 0/1 (and 2 with continuous prompts) score the two choices in the blank. Patterns
    2/3 without prompts instead put each choice after the blank and score the connective
    (" because" / " so"), one row per choice."""

    patterns = (0, 1, 2, 3)
    multi_token = True
    prompts = True

    def choices(self, example: InputExample) -> tuple[str, str]:
        return tuple(nofinal(lcfirst(example.meta[k])) for k in ("choice1", "choice2"))

    def answers(self, example: InputExample) -> list[str]:
        return [" " + c for c in self.choices(example)]

    def parts(self, example: InputExample) -> tuple[list, list]:
        premise = nofinal(Short(" " + example.text_a))
        c1, c2 = self.choices(example)
        joiner = " because" if example.meta["question"] == "cause" else ", so"
        if self.pattern_id == 0:
            return [P, '"', c1, '" or "', c2, '"?', P, premise, joiner, P, MASK, "."], []
        if self.pattern_id == 1:
            return [P, c1, " or", " " + c2, "?", P, premise, joiner, P, MASK, "."], []
        if self.pattern_id == 2 and self.options.continuous_prompt:
            return [P, '"', c1, '" or "', c2, '"', P, premise, joiner, MASK, ".", P], []
        raise ValueError(
            f"COPA --pattern-id {self.pattern_id} scores the connective after each choice and has"
            " no single pattern text: use pattern 0 or 1 (pattern 3 takes no continuous prompt)"
        )

    def encode(self, example: InputExample) -> dict[str, Any]:
        if self.pattern_id < 2 or self.options.continuous_prompt:
            return super().encode(example)
        connective = " because" if example.meta["question"] == "cause" else " so"
        answer_ids = self.answer_ids(connective)
        c1, c2 = self.choices(example)
        rows = []
        for choice in (c1, c2):
            parts_a = self._encode(
                ['"', c1, '" or "', c2, '"?', nofinal(Short(example.text_a)), MASK, " " + choice]
            )
            self.truncate(parts_a, [], answer_ids)
            rows.append(self._row(parts_a, [], answer_ids))
        sample = stack_rows(rows)
        sample.update(label=self.label_index(example), num_choices=2)
        return sample


class WscPVP(PVP):
    """Candidates: span1 first, then the record's ``candidates`` (WSC-negative data)."""

    patterns = (0, 1, 2)
    multi_token = True
    prompts = True

    def answers(self, example: InputExample) -> list[str]:
        return [
            " " + example.meta["span1_text"],
            *(" " + c for c in example.meta.get("candidates", [])),
        ]

    def parts(self, example: InputExample) -> tuple[list, list]:
        pronoun = example.meta["span2_text"]
        words = example.text_a.split()
        index = example.meta["span2_index"]
        words[index] = "*" + words[index] + "*"
        text = Short(" ".join(words))
        if self.pattern_id == 0:
            return [P, text, P, " The pronoun '*" + pronoun + "*' refers to", P, MASK, "."], []
        if self.pattern_id == 1:
            return [
                P,
                text,
                P,
                " In the previous sentence, the pronoun '*" + pronoun + "*' refers to",
                P,
                MASK,
                ".",
            ], []
        return [
            P,
            text,
            P,
            " Question: In the passage above, what does the pronoun '*" + pronoun + "*' refer to?",
            P,
            " Answer:",
            MASK,
            ".",
        ], []

    def gold_answer(self, example: InputExample) -> str:
        return self.answers(example)[0]

    def encode(self, example: InputExample) -> dict[str, Any]:
        sample = super().encode(example)
        if self.split == "train":
            sample["label"] = 0  # the referent (span1) is always the first candidate
        return sample

    def encode_generative(self, example: InputExample) -> dict[str, Any]:
        """The generative regime: one row, ``[sop] span1 [eop]`` scored token by token."""
        parts_a, parts_b = self.encoded_parts(example)
        answer_ids = self.answer_ids(" " + example.meta["span1_text"])
        self.truncate(parts_a, parts_b, answer_ids)
        sample = self._row(parts_a, parts_b, answer_ids)
        sample["label"] = self.label_index(example)
        return sample


class RecordPVP(PVP):
    multi_token = True

    def answers(self, example: InputExample) -> list[str]:
        return [" " + c for c in example.meta["candidates"]]

    def label_index(self, example: InputExample) -> int:
        return 0  # training puts the gold entity first; evaluation is scored by EM/F1

    def parts(self, example: InputExample) -> tuple[list, list]:
        before, after = example.text_b.split("@placeholder", 1)
        return [Short(example.text_a), " " + before.rstrip(), MASK, after], []


SUPERGLUE_PVPS = {
    "rte": RtePVP,
    "ax-b": RtePVP,
    "ax-g": RtePVP,
    "cb": CbPVP,
    "boolq": BoolQPVP,
    "multirc": MultiRcPVP,
    "wic": WicPVP,
    "copa": CopaPVP,
    "wsc": WscPVP,
    "wsc1": WscPVP,
    "record": RecordPVP,
}
