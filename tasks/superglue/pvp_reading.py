"""PVPs of the reading-comprehension cloze tasks: RACE and SQuAD (as a cloze task)."""

from __future__ import annotations

from tasks.cloze_samples import InputExample
from tasks.superglue.pvp import MASK, PVP, Short, lcfirst


class RacePVP(PVP):
    patterns = (0, 1)
    multi_token = True

    def answers(self, example: InputExample) -> list[str]:
        return [" " + option for option in example.meta["choices"]]

    def parts(self, example: InputExample) -> tuple[list, list]:
        context, question = Short(example.text_a), example.text_b
        if "_" in question:
            left, right = question.split("_", 1)
            if self.pattern_id == 0:
                return [context], [Short(left.rstrip()), MASK, Short(right)]
            return [context], [
                " Based on the previous passage,",
                Short(lcfirst(left.rstrip())),
                MASK,
                Short(right),
            ]
        if self.pattern_id == 0:
            return [context], [" Question:", Short(" " + question), " Answer:", MASK]
        return [context], [" Based on the previous passage,", Short(" " + question), MASK]


class SquadClozePVP(PVP):
    multi_token = True

    def answers(self, example: InputExample) -> list[str]:
        return [" " + example.meta["answer"]]

    def parts(self, example: InputExample) -> tuple[list, list]:
        return [Short(example.text_a), " " + example.text_b, MASK, "."], []


READING_PVPS = {"race": RacePVP, "squad-cloze": SquadClozePVP}
