"""Pattern texts and verbalizers of every cloze task, written out from the GLM spec (§11.4).

Each case lists the parts of pattern lists A and B as the spec gives them: a string is
tokenised on its own, ``S(...)`` marks a shortenable part, ``M`` the [MASK]. The PVP's encoded
parts must equal those token ids exactly (the spaces inside parts matter for BPE).
"""

import pytest

from data_utils.tokenization import TokenizerConfig, build_tokenizer
from tasks.cloze_samples import InputExample
from tasks.config import ClozeOptions
from tasks.superglue.dataset import PVPS
from tasks.superglue.processors import PROCESSORS

M = object()


class S(str):
    """A shortenable part in the expected tables."""


@pytest.fixture(scope="module")
def gpt2(vocab_dir):
    return build_tokenizer(
        TokenizerConfig("GPT2BPETokenizer", tokenizer_path=str(vocab_dir), task_mask=True)
    )


@pytest.fixture(scope="module")
def chinese(vocab_dir):
    return build_tokenizer(TokenizerConfig("ChineseSPTokenizer", tokenizer_path=str(vocab_dir)))


def ex(text_a, text_b=None, label=None, **meta):
    return InputExample("g-0", text_a, text_b, label, meta)


# fmt: off
PREMISE, HYP = "The cat sat on the mat.", "A cat is sitting."
PAIR = ex(PREMISE, HYP, "entailment")
PASSAGE, QUESTION = "Paris is the capital of France.", "is paris the capital of france"
BOOLQ = ex(PASSAGE, QUESTION, "true")
MULTIRC = ex("The sky is blue. ", "What color is the sky?", "1", answer="blue")
MRC_P, MRC_Q = S("The sky is blue"), " What color is the sky"
WIC = ex("He took a bath.", "Bath time is fun.", "true", word="bath")
WSC_TEXT = "Mark told Pete many lies about himself, which Pete included in his book. He lied."
WSC = ex(WSC_TEXT, None, "True", span1_text="Mark", span1_index=0, span2_text="He",
         span2_index=13)
WSC_MARKED = S(WSC_TEXT.replace("book. He", "book. *He*"))
COPA = ex("My body cast a shadow over the grass.", None, "0", choice1="The sun was rising.",
          choice2="The grass was cut.", question="cause")
C1, C2 = "the sun was rising", "the grass was cut"
COPA_P = S(" My body cast a shadow over the grass")
RECORD = ex("Obama visited Paris.", "The president @placeholder visited.", "0",
            candidates=["Obama", "Paris"], answers=["Obama"])
AB = ex("Stocks fall", "Markets dropped today.", "3")
TEXT = ex("Great food and service.", None, "2")
QNLI = ex("Where is Paris?", "Paris is in France.", "entailment")
RACE_BLANK = ex("Long article.", "The man _ home.", "B", choices=["went", "ran"])
RACE_QUESTION = ex("Art.", "Why did he go?", "A", choices=["a", "b"])
YES_NO = {"false": " No", "true": " Yes"}
NLI3 = {"contradiction": " No", "entailment": " Yes", "neutral": " Maybe"}
YAHOO = {str(i + 1): w for i, w in enumerate([
    " Society", " Science", " Health", " Education", " Computer", " Sports", " Business",
    " Entertainment", " Relationship", " Politics"])}

CASES = [
    # task, pattern, example, parts A, parts B, verbalizer (label -> word) or answers
    ("rte", 0, PAIR, ['"', S("A cat is sitting"), '" ?'], [M, ",", ' "', S(PREMISE), '"'],
     {"entailment": " Yes", "not_entailment": " No"}),
    ("rte", 1, PAIR, [S("A cat is sitting"), "?"], [M, ",", S(" " + PREMISE)], None),
    ("rte", 2, PAIR, ['"', S("A cat is sitting"), '" ?'], [M, '. "', S(PREMISE), '"'], None),
    ("rte", 3, PAIR, [S("A cat is sitting"), "?"], [M, ".", S(" " + PREMISE)], None),
    ("rte", 4, PAIR, [S(PREMISE), " question:", S(" A cat is sitting"), " True or False?",
                      " answer:", M], [], {"entailment": " true", "not_entailment": " false"}),
    ("cb", 1, ex(PREMISE, HYP, "neutral"), [S("A cat is sitting"), "?"],
     [M, ",", S(" " + PREMISE)], NLI3),
    ("cb", 4, ex(PREMISE, HYP, "neutral"), [S(PREMISE), " question:", S(" " + HYP),
                                            " true, false or neither?", " answer:", M], [],
     {"contradiction": " false", "entailment": " true", "neutral": " neither"}),
    ("boolq", 0, BOOLQ, [S(PASSAGE), " Question:", S(" " + QUESTION), "? Answer:", M, "."], [],
     YES_NO),
    ("boolq", 1, BOOLQ, [S(PASSAGE), " Question:", S(" " + QUESTION), "? Answer:", M, "."], [],
     {"false": " false", "true": " true"}),
    ("boolq", 2, BOOLQ, [S(PASSAGE), " Based on the previous passage,", S(" " + QUESTION), "?",
                         M, "."], [], None),
    ("boolq", 5, BOOLQ, ["Based on the following passage", S(" " + QUESTION), "?", M, ".",
                         S(" " + PASSAGE)], [], {"false": " false", "true": " true"}),
    ("multirc", 0, MULTIRC, [MRC_P, ".", " Question:", MRC_Q + "?", " Is it", " blue", "?", M,
                             "."], [], {"0": " No", "1": " Yes"}),
    ("multirc", 1, MULTIRC, [MRC_P, ".", " Question:", MRC_Q, "?", ' Is the correct answer "',
                             "blue", '"?', M, "."], [], None),
    ("multirc", 2, MULTIRC, [MRC_P, ". Based on the previous passage,", MRC_Q, "?", ' Is "',
                             "blue", '" a correct answer?', M, "."], [], None),
    ("multirc", 3, MULTIRC, [MRC_P, MRC_Q, "- [", M, "]", "blue"], [],
     {"0": " False", "1": " True"}),
    ("multirc", 4, MULTIRC, [MRC_P, ".", " Question:", MRC_Q, "?", " blue", "?", M, "."], [],
     None),
    ("wic", 0, WIC, [S('"He took a bath." / "Bath time is fun."'), ' Similar sense of "bath"?',
                     M, "."], [], YES_NO),
    ("wic", 1, WIC, [S("He took a bath."), S(" Bath time is fun."),
                     " Does bath have the same meaning in both sentences?", M], [], None),
    ("wic", 2, WIC, ["bath", " .", ' Sense (1) (a) "', S("He took a bath."), '"', " (", M,
                     ') "', "Bath time is fun.", '"'], [], {"false": "2", "true": "b"}),
    ("copa", 0, COPA, ['"', C1, '" or "', C2, '"?', COPA_P, " because", M, "."], [],
     [" " + C1, " " + C2]),
    ("copa", 1, COPA, [C1, " or", " " + C2, "?", COPA_P, " because", M, "."], [],
     [" " + C1, " " + C2]),
    ("wsc", 0, WSC, [WSC_MARKED, " The pronoun '*He*' refers to", M, "."], [], [" Mark"]),
    ("wsc", 1, WSC, [WSC_MARKED, " In the previous sentence, the pronoun '*He*' refers to", M,
                     "."], [], [" Mark"]),
    ("wsc", 2, WSC, [WSC_MARKED, " Question: In the passage above, what does the pronoun '*He*'"
                     " refer to?", " Answer:", M, "."], [], [" Mark"]),
    ("record", 0, RECORD, [S("Obama visited Paris."), " The president", M, " visited."], [],
     [" Obama", " Paris"]),
    ("race", 0, RACE_BLANK, [S("Long article.")], [S("The man"), M, S(" home.")],
     [" went", " ran"]),
    ("race", 1, RACE_BLANK, [S("Long article.")],
     [" Based on the previous passage,", S("the man"), M, S(" home.")], None),
    ("race", 0, RACE_QUESTION, [S("Art.")], [" Question:", S(" Why did he go?"), " Answer:", M],
     None),
    ("race", 1, RACE_QUESTION, [S("Art.")],
     [" Based on the previous passage,", S(" Why did he go?"), M], None),
    ("squad-cloze", 0, ex("Ctx.", "Who?", "0", answer="Bob"), [S("Ctx."), " Who?", M, "."], [],
     [" Bob"]),
    ("mnli", 0, ex("A man sleeps.", "He rests.", "entailment"), ['"', S("A man sleeps"), '" ?'],
     [M, ', "', S("He rests."), '"'],
     {"contradiction": " Wrong", "entailment": " Right", "neutral": " Maybe"}),
    ("mnli", 3, ex("A man sleeps.", "He rests.", "entailment"), [S("A man sleeps"), "?"],
     [M, ",", S("He rests.")], NLI3),
    ("agnews", 0, AB, [M, ":", S("Stocks fall"), S("Markets dropped today.")], [],
     {"1": " World", "2": " Sports", "3": " Business", "4": " Tech"}),
    ("agnews", 1, AB, [M, " News:", S("Stocks fall"), S("Markets dropped today.")], [], None),
    ("agnews", 2, AB, [S("Stocks fall"), "(", M, ")", S("Markets dropped today.")], [], None),
    ("agnews", 3, AB, [S("Stocks fall"), S("Markets dropped today."), "(", M, ")"], [], None),
    ("agnews", 4, AB, ["[ Category:", M, "]", S("Stocks fall"), S("Markets dropped today.")], [],
     None),
    ("agnews", 5, AB, [M, "-", S("Stocks fall"), S("Markets dropped today.")], [], None),
    ("yahoo", 1, ex("Why?", "Because.", "2"), [M, " Question:", S("Why?"), S("Because.")], [],
     YAHOO),
    ("yelp-polarity", 0, TEXT, ["It was", M, ".", S("Great food and service.")], [],
     {"1": " bad", "2": " good"}),
    ("yelp-polarity", 1, TEXT, [S("Great food and service."), ". All in all, it was", M, "."],
     [], None),
    ("yelp-polarity", 2, TEXT, ["Just", M, "!"], [S("Great food and service.")], None),
    ("yelp-full", 3, ex("Great food.", None, "5"), [S("Great food.")],
     [" In summary, the restaurant is", M, "."],
     {"1": " terrible", "2": " bad", "3": " okay", "4": " good", "5": " great"}),
    ("xstance", 0, ex("Q?", "C.", "FAVOR"), ['"', S("Q?"), '"'], [M, '. "', S("C."), '"'],
     {"FAVOR": "Ja", "AGAINST": "Nein"}),
    ("xstance", 3, ex("Q?", "C.", "FAVOR"), [S("Q?")], [M, ".", S("C.")],
     {"FAVOR": "Yes", "AGAINST": "No"}),
    ("xstance", 4, ex("Q?", "C.", "FAVOR"), ['"', S("Q?"), '"'], [M, '. "', S("C."), '"'],
     {"FAVOR": "Oui", "AGAINST": "Non"}),
    ("sst2", 0, ex("A fine film.", None, "1"), [S("A fine film."), " It was", M, "."], [],
     {"0": " terrible", "1": " great"}),
    ("sst2", 1, ex("A fine film.", None, "1"), [S("A fine film."), " It was", M, "."], [],
     {"0": " bad", "1": " good"}),
    ("cola", 0, ex("Him went.", None, "0"), ['"', S("Him went."), '"', " This is", M, "."], [],
     {"0": " incorrect", "1": " correct"}),
    ("mrpc", 0, ex("He left.", "He went away.", "1"), [S("He left.")],
     [M, ", ", S("he went away.")], {"0": " No", "1": " Yes"}),
    ("mrpc", 1, ex("He left.", "He went away.", "1"), [S("He left.")],
     [" Does it mean that", S("he went away"), "?", M], None),
    ("qqp", 0, ex("How?", "What way?", "1"), [S("How?")],
     [" Do you mean ", S("what way?"), M, "."], {"0": " No", "1": " Yes"}),
    ("qqp", 1, ex("How?", "What way?", "1"), [S("How?")], [M, ", ", S("what way?")], None),
    ("qnli", 0, QNLI, [S("Paris is in France."), " Question:", S(" Where is Paris"),
                       "? Do you know the answer?", M, "."], [],
     {"not_entailment": " No", "entailment": " Yes"}),
    ("qnli", 1, QNLI, [S("Paris is in France."), " Based on the previous passage, do you know the"
                       " answer", S(" Where is Paris"), "?", M, "."], [], None),
    ("qnli", 2, QNLI, ["Based on the following passage, do you know the answer",
                       S(" Where is Paris"), "?", M, ".", S(" Paris is in France.")], [], None),
]
# fmt: on


def encode_expected(tokenizer, parts):
    return [
        ([tokenizer.mask_id] if p is M else tokenizer.encode(p), isinstance(p, S)) for p in parts
    ]


def make_pvp(task, pattern, tokenizer, **options):
    options = ClozeOptions(max_seq_length=256, pattern_id=pattern, **options)
    return PVPS[task](tokenizer, PROCESSORS[task].labels, options, "dev")


@pytest.mark.parametrize(
    ("task", "pattern", "example", "parts_a", "parts_b", "words"),
    CASES,
    ids=[f"{c[0]}-p{c[1]}" for c in CASES],
)
def test_pattern_parts_and_verbalizers(gpt2, task, pattern, example, parts_a, parts_b, words):
    pvp = make_pvp(task, pattern, gpt2)
    got_a, got_b = pvp.encoded_parts(example)
    assert got_a == encode_expected(gpt2, parts_a)
    assert got_b == encode_expected(gpt2, parts_b)
    if isinstance(words, dict):
        assert pvp.verbalizer() == words
        encoded = [gpt2.encode(words[label]) for label in pvp.labels]
        if all(len(ids) == 1 for ids in encoded):
            assert pvp.verbalizer_ids() == [ids[0] for ids in encoded]
        else:  # e.g. X-Stance's German words are several GPT-2 tokens
            with pytest.raises(ValueError, match="not a single ordinary token"):
                pvp.verbalizer_ids()
    elif isinstance(words, list):
        assert pvp.answers(example) == words


def test_pattern_text_reads_like_the_spec(gpt2):
    sample = make_pvp("rte", 0, gpt2).encode(PAIR)
    text = gpt2.decode(sample["input_ids"][: sample["sep"]])
    assert text == '[CLS]"A cat is sitting" ?[MASK], "The cat sat on the mat."<|endoftext|>'
    sample = make_pvp("copa", 0, gpt2).encode(COPA)
    text = gpt2.decode(sample["input_ids"][0][: sample["sep"][0]])
    assert text == (
        '[CLS]"the sun was rising" or "the grass was cut"? My body cast a shadow '
        "over the grass because[MASK].<|endoftext|>"
    )


def test_copa_effect_joiner_and_special_connective_encoding(gpt2):
    effect = ex(COPA.text_a, None, "1", choice1="X fell.", choice2="Y rose.", question="effect")
    parts_a, _ = make_pvp("copa", 0, gpt2).encoded_parts(effect)
    assert (gpt2.encode(", so"), False) in parts_a
    sample = make_pvp("copa", 2, gpt2).encode(COPA)
    because = gpt2.encode(" because")
    for row, choice in enumerate((C1, C2)):
        expected = encode_expected(
            gpt2,
            [
                '"',
                C1,
                '" or "',
                C2,
                '"?',
                S("My body cast a shadow over the grass"),
                M,
                " " + choice,
            ],
        )
        context = [gpt2.cls_id, *[i for ids, _ in expected for i in ids], gpt2.eos_id]
        sep = int(sample["sep"][row])
        assert sample["input_ids"][row][:sep].tolist() == context
        scored = sample["target_ids"][row][sample["logit_mask"][row] == 1].tolist()
        assert scored == [*because, gpt2.eop_id]


def test_cloze_rows_of_multi_token_answers(gpt2):
    sample = make_pvp("copa", 0, gpt2).encode(COPA)
    assert sample["input_ids"].shape[0] == 2 and sample["num_choices"] == 2
    for row, answer in enumerate((" " + C1, " " + C2)):
        answer_ids = [*gpt2.encode(answer), gpt2.eop_id]
        sep = int(sample["sep"][row])
        mask_position = sample["input_ids"][row].tolist().index(gpt2.mask_id)
        end = sep + len(answer_ids)
        assert sample["input_ids"][row][sep:end].tolist() == [gpt2.sop_id, *answer_ids[:-1]]
        assert sample["target_ids"][row][sep:end].tolist() == answer_ids
        assert sample["logit_mask"][row].sum() == len(answer_ids)
        assert (sample["position_ids"][row][0][sep:end] == mask_position).all()
        assert sample["position_ids"][row][1][sep:end].tolist() == list(
            range(1, len(answer_ids) + 1)
        )
        assert sample["position_ids"][row][0][:sep].tolist() == list(range(sep))


@pytest.mark.parametrize(("tokens", "slots"), [(3, [1, 1, 1]), (5, [2, 2, 1]), (2, [1, 1, 0])])
def test_continuous_prompt_slots(gpt2, tokens, slots):
    pvp = make_pvp("rte", 0, gpt2, continuous_prompt=True, num_prompt_tokens=tokens)
    parts_a, parts_b = pvp.place_prompts(*pvp.parts(PAIR))
    counts = [p for p in parts_a + parts_b if isinstance(p, int)]
    assert counts == [s for s in slots if s]
    sample = pvp.encode(PAIR)
    assert len(sample["prompt_pos"]) == tokens == pvp.spell_length
    assert sample["prompt_pos"][0] == 1  # right after [CLS]
    assert (sample["input_ids"][sample["prompt_pos"]] == 0).all()
    assert (sample["input_ids"] != gpt2.num_tokens).all()


def test_prefix_prompt_comes_first(gpt2):
    pvp = make_pvp("boolq", 0, gpt2, continuous_prompt=True, num_prompt_tokens=3, prefix_prompt=2)
    sample = pvp.encode(BOOLQ)
    assert pvp.spell_length == 5
    assert sample["prompt_pos"][:3].tolist() == [1, 2, 3]


def test_truncation_cuts_the_longer_shortenable_part(gpt2):
    long = ex("word " * 300, HYP, "entailment")
    pvp = make_pvp("rte", 0, gpt2)
    sample = pvp.encode(long)
    assert len(sample["input_ids"]) == 256  # Part A (+ [sop]) fills --seq-length exactly
    assert gpt2.decode(sample["input_ids"][:6]).startswith('[CLS]"A cat is sitting')
    assert pvp.num_truncated == 1


def test_unknown_pattern_and_unsupported_prompt_are_errors(gpt2):
    with pytest.raises(ValueError, match="--pattern-id 7 does not exist"):
        make_pvp("rte", 7, gpt2)
    with pytest.raises(ValueError, match="--continuous-prompt is not supported"):
        make_pvp("mnli", 0, gpt2, continuous_prompt=True, num_prompt_tokens=3)


def test_clue_patterns(chinese):
    pair = ex("花呗怎么还款", "花呗如何还钱", "1")
    pvp = make_pvp("afqmc", 0, chinese)
    assert pvp.encoded_parts(pair) == (
        encode_expected(chinese, [S("花呗怎么还款"), "？"]),
        encode_expected(chinese, ["你是说", S("花呗如何还钱"), "？", M, "。"]),
    )
    assert pvp.verbalizer_ids() == [chinese.token_to_id("▁不是"), chinese.token_to_id("▁是")]
    news = make_pvp("tnews", 0, chinese)
    parts_a, _ = news.encoded_parts(ex("标题文本", "关键", "102"))
    assert parts_a == encode_expected(
        chinese, ["标题：", S("标题文本"), "关键词：", S("关键"), "类别：", M]
    )
    assert len(news.verbalizer_ids()) == 15
    wsc = ex(
        "小明把书给了他",
        None,
        "true",
        span1_text="小明",
        span1_index=0,
        span2_text="他",
        span2_index=6,
    )
    parts_a, _ = make_pvp("cluewsc", 1, chinese).encoded_parts(wsc)
    assert parts_a == encode_expected(
        chinese, ["在如下的句子中：", S("#小明#把书给了*他*"), "代词'*他*'", M, "指'#小明#'."]
    )
