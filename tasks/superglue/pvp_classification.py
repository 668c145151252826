"""PVPs of the single-token classification tasks beyond SuperGLUE: GLUE (MNLI, SST-2, CoLA,
MRPC, QQP, QNLI), text classification (AG News, Yahoo, Yelp), X-Stance and CLUE (AFQMC,
TNEWS, CLUEWSC)."""

from __future__ import annotations

from tasks.cloze_samples import InputExample
from tasks.superglue.pvp import MASK, PROMPT, PVP, Short, lcfirst, nofinal


class _Verbalized(PVP):
    """A single-token PVP whose verbalizer is a table per pattern (or one table)."""

    words: dict[str, str] | dict[int, dict[str, str]] = {}

    def verbalizer(self) -> dict[str, str]:
        table = self.words
        return table.get(self.pattern_id, table)


class MnliPVP(_Verbalized):
    patterns = (0, 1, 2, 3)
    words = {
        p: {"contradiction": w, "entailment": r, "neutral": " Maybe"}
        for p, (w, r) in enumerate([(" Wrong", " Right")] * 2 + [(" No", " Yes")] * 2)
    }

    def parts(self, example: InputExample) -> tuple[list, list]:
        premise, hypothesis = Short(nofinal(example.text_a)), Short(example.text_b)
        if self.pattern_id in (0, 2):
            return ['"', premise, '" ?'], [MASK, ', "', hypothesis, '"']
        return [premise, "?"], [MASK, ",", hypothesis]


class AgnewsPVP(_Verbalized):
    patterns = (0, 1, 2, 3, 4, 5)
    words = {"1": " World", "2": " Sports", "3": " Business", "4": " Tech"}
    news = " News:"

    def parts(self, example: InputExample) -> tuple[list, list]:
        a, b = Short(example.text_a), Short(example.text_b)
        return [
            [MASK, ":", a, b],
            [MASK, self.news, a, b],
            [a, "(", MASK, ")", b],
            [a, b, "(", MASK, ")"],
            ["[ Category:", MASK, "]", a, b],
            [MASK, "-", a, b],
        ][self.pattern_id], []


class YahooPVP(AgnewsPVP):
    news = " Question:"
    words = {
        str(i + 1): w
        for i, w in enumerate(
            [
                " Society",
                " Science",
                " Health",
                " Education",
                " Computer",
                " Sports",
                " Business",
                " Entertainment",
                " Relationship",
                " Politics",
            ]
        )
    }


class YelpPolarityPVP(_Verbalized):
    patterns = (0, 1, 2, 3)
    words = {"1": " bad", "2": " good"}

    def parts(self, example: InputExample) -> tuple[list, list]:
        text = Short(example.text_a)
        return [
            (["It was", MASK, ".", text], []),
            ([text, ". All in all, it was", MASK, "."], []),
            (["Just", MASK, "!"], [text]),
            ([text], [" In summary, the restaurant is", MASK, "."]),
        ][self.pattern_id]


class YelpFullPVP(YelpPolarityPVP):
    words = {str(i + 1): w for i, w in enumerate([" terrible", " bad", " okay", " good", " great"])}


class XStancePVP(_Verbalized):
    patterns = (0, 1, 2, 3, 4, 5)
    words = {
        p: {"FAVOR": yes, "AGAINST": no}
        for p, (yes, no) in enumerate(
            [("Ja", "Nein")] * 2 + [("Yes", "No")] * 2 + [("Oui", "Non")] * 2
        )
    }

    def parts(self, example: InputExample) -> tuple[list, list]:
        a, b = Short(example.text_a), Short(example.text_b)
        if self.pattern_id % 2 == 0:
            return ['"', a, '"'], [MASK, '. "', b, '"']
        return [a], [MASK, ".", b]


class Sst2PVP(_Verbalized):
    patterns = (0, 1)
    words = {0: {"0": " terrible", "1": " great"}, 1: {"0": " bad", "1": " good"}}

    def parts(self, example: InputExample) -> tuple[list, list]:
        return [Short(example.text_a), " It was", MASK, "."], []


class ColaPVP(_Verbalized):
    words = {"0": " incorrect", "1": " correct"}

    def parts(self, example: InputExample) -> tuple[list, list]:
        return ['"', Short(example.text_a), '"', " This is", MASK, "."], []


class MrpcPVP(_Verbalized):
    patterns = (0, 1)
    words = {"0": " No", "1": " Yes"}

    def parts(self, example: InputExample) -> tuple[list, list]:
        a, b = Short(example.text_a), lcfirst(example.text_b)
        if self.pattern_id == 0:
            return [a], [MASK, ", ", Short(b)]
        return [a], [" Does it mean that", Short(nofinal(b)), "?", MASK]


class QqpPVP(_Verbalized):
    patterns = (0, 1)
    words = {"0": " No", "1": " Yes"}

    def parts(self, example: InputExample) -> tuple[list, list]:
        a, b = Short(example.text_a), Short(lcfirst(example.text_b))
        if self.pattern_id == 0:
            return [a], [" Do you mean ", b, MASK, "."]
        return [a], [MASK, ", ", b]


class QnliPVP(_Verbalized):
    patterns = (0, 1, 2)
    words = {"not_entailment": " No", "entailment": " Yes"}

    def parts(self, example: InputExample) -> tuple[list, list]:
        question, passage = Short(" " + nofinal(example.text_a)), Short(example.text_b)
        if self.pattern_id == 0:
            return [passage, " Question:", question, "? Do you know the answer?", MASK, "."], []
        if self.pattern_id == 1:
            return [
                passage,
                " Based on the previous passage, do you know the answer",
                question,
                "?",
                MASK,
                ".",
            ], []
        return [
            "Based on the following passage, do you know the answer",
            question,
            "?",
            MASK,
            ".",
            Short(" " + example.text_b),
        ], []


class AfqmcPVP(_Verbalized):
    patterns = (0, 1)
    words = {"0": "不是", "1": "是"}

    def parts(self, example: InputExample) -> tuple[list, list]:
        s1, s2 = Short(example.text_a), Short(example.text_b)
        if self.pattern_id == 0:
            return [s1, "？"], ["你是说", s2, "？", MASK, "。"]
        return [s1, "？"], [MASK, "，", s2]


TNEWS_LABELS = (
    "100",
    "101",
    "102",
    "103",
    "104",
    "106",
    "107",
    "108",
    "109",
    "110",
    "112",
    "113",
    "114",
    "115",
    "116",
)
TNEWS_WORDS = (
    "故事",
    "文化",
    "娱乐",
    "体育",
    "金融",
    "居家",
    "汽车",
    "教育",
    "科技",
    "军事",
    "旅游",
    "世界",
    "股票",
    "农业",
    "游戏",
)


class TnewsPVP(_Verbalized):
    words = dict(zip(TNEWS_LABELS, TNEWS_WORDS, strict=True))

    def parts(self, example: InputExample) -> tuple[list, list]:
        return [
            "标题：",
            Short(example.text_a),
            "关键词：",
            Short(example.text_b or ""),
            "类别：",
            MASK,
        ], []


class CluewscPVP(_Verbalized):
    patterns = (0, 1)
    prompts = True
    words = {"false": "不是", "true": "是"}

    def parts(self, example: InputExample) -> tuple[list, list]:
        meta, text = example.meta, example.text_a
        pronoun, target = meta["span2_text"], meta["span1_text"]
        marks = sorted(
            [(meta["span1_index"], target, "#"), (meta["span2_index"], pronoun, "*")], reverse=True
        )
        for start, span, mark in marks:
            text = text[:start] + mark + span + mark + text[start + len(span) :]
        if self.pattern_id == 0:
            return [PROMPT, Short(text), "代词'*" + pronoun + "*'", MASK, "指#" + target + "#."], []
        return [
            "在如下的句子中：",
            Short(text),
            "代词'*" + pronoun + "*'",
            MASK,
            "指'#" + target + "#'.",
        ], []


CLASSIFICATION_PVPS = {
    "mnli": MnliPVP,
    "mnli-mm": MnliPVP,
    "agnews": AgnewsPVP,
    "yahoo": YahooPVP,
    "yelp-polarity": YelpPolarityPVP,
    "yelp-full": YelpFullPVP,
    "xstance": XStancePVP,
    "xstance-de": XStancePVP,
    "xstance-fr": XStancePVP,
    "sst2": Sst2PVP,
    "cola": ColaPVP,
    "mrpc": MrpcPVP,
    "qqp": QqpPVP,
    "qnli": QnliPVP,
    "afqmc": AfqmcPVP,
    "tnews": TnewsPVP,
    "cluewsc": CluewscPVP,
}
