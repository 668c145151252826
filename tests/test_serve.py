"""serve_glm.py as a user meets it: a real server process on a free port, spoken to over HTTP.

Two servers on the tiny fixture checkpoints: MP 1 (batches of 8), and MP 2 launched by
scripts/serve_block.sh (torchrun) with
room for 2 running and 1 waiting request, so that a burst overflows its queue. The fills must
equal generate_samples.py's batch mode for the same texts, streamed or not, alone or among 32
concurrent clients. The playground is driven in headless Chromium.
"""

import json
import shutil
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import generate_samples
from tests.reference import generation_cases
from tests.serve_helpers import ServerProcess, free_port, serve_glm
from tests.test_generate_samples import GPT2, TINY, cli

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve")]

EXTRA_TEXTS = [
    "A [MASK] B [MASK] C [sMASK] D",
    "Café, naïve [MASK] déjà vu.",
    "Hello world, [MASK] is here.",
]
LONG = "Ng is an adjunct professor" + " and [MASK]" * 18  # ~330 decoding steps


@pytest.fixture(scope="module")
def texts(reference_dir) -> list[str]:
    return [c["input_text"] for c in generation_cases(reference_dir, "gpt2")] + EXTRA_TEXTS


@pytest.fixture(scope="module")
def expected(texts, tmp_path_factory, reference_dir, vocab_dir) -> dict[str, dict]:
    """generate_samples.py's batch-mode record per text (greedy, --out-seq-length 24)."""
    folder = tmp_path_factory.mktemp("generate")
    (folder / "in.txt").write_text("\n".join(texts) + "\n")
    generate_samples.main(
        cli(reference_dir, vocab_dir) + ["--batch-size", "4", "--input-file",
        str(folder / "in.txt"), "--output-file", str(folder / "out.jsonl")]
    )  # fmt: skip
    records = [json.loads(line) for line in (folder / "out.jsonl").read_text().splitlines()]
    return {record["context"]: record for record in records}


def mp2_launch(reference_dir, vocab_dir, folder) -> tuple[list[str], int, dict]:
    """MP 2 launched as users do: scripts/serve_block.sh with a model descriptor, MPSIZE=2."""
    descriptor = folder / "model_tiny.sh"
    descriptor.write_text(
        f'MODEL_TYPE="tiny"\nMODEL_ARGS="{TINY} {GPT2} '
        '--load-pretrained ${CHECKPOINT_PATH}/glm-tiny-gpt2_MP2"\n'
    )
    port = free_port()
    env = dict(
        CHECKPOINT_PATH=str(reference_dir / "checkpoints"), GLM_TOKENIZER_PATH=str(vocab_dir),
        MPSIZE="2", MAXSEQLEN="256", OUT_SEQ_LENGTH="24", TOPK="1", PORT=str(port),
    )  # fmt: skip
    command = ["bash", "scripts/serve_block.sh", str(descriptor), "--max-batch-size", "2",
               "--max-queue", "1"]  # fmt: skip
    return command, port, env


@pytest.fixture(scope="module")
def servers(reference_dir, vocab_dir, tmp_path_factory):
    """Both servers boot side by side (and beside generate_samples for ``expected``)."""
    argv = cli(reference_dir, vocab_dir) + ["--max-batch-size", "8", "--max-queue", "200"]
    folder = tmp_path_factory.mktemp("descriptor")
    started = [
        ServerProcess(*serve_glm(argv)),
        ServerProcess(*mp2_launch(reference_dir, vocab_dir, folder)),
    ]
    yield started
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def mp1(servers, expected):  # generate_samples runs while the servers boot
    return servers[0].ready()


@pytest.fixture(scope="module")
def mp2(servers):
    return servers[1].ready()


def same_as_generate_samples(answer: dict, record: dict) -> None:
    assert answer["context"] == record["context"]
    assert answer["fill_ids"] == record["fill_ids"]
    assert answer["fills"] == record["fills"]
    assert answer["text"] == record["text"]
    for (start, end), fill in zip(answer["fill_offsets"], answer["fills"], strict=True):
        assert answer["text"][start:end] == fill


def test_greedy_fills_equal_generate_samples_at_mp1(mp1, texts, expected):
    for text in texts:
        reply = mp1.fill(text=text, top_k=1)
        assert reply.status == 200, reply.body
        answer = reply.json()
        same_as_generate_samples(answer, expected[text])
        assert answer["usage"]["generated_tokens"] == sum(map(len, answer["fill_ids"]))
        assert 0 <= answer["timing"]["first_token_s"] <= answer["timing"]["total_s"]


def test_greedy_fills_equal_generate_samples_at_mp2_through_a_full_queue(mp2, texts, expected):
    """Three clients at a time on 2 rows + 1 queue place: some get 503 and retry."""
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda t: mp2.fill_retrying(text=t)[0], texts))
    for text, reply in zip(texts, replies, strict=True):
        assert reply.status == 200, reply.body
        same_as_generate_samples(reply.json(), expected[text])
    info = mp2.get("/v1/model").json()
    assert info["model_parallel_size"] == 2 and info["checkpoint"].endswith("_MP2")


def test_a_burst_beyond_the_queue_gets_503_with_retry_after(mp2, expected, texts):
    text = texts[1]  # two blanks
    start = threading.Barrier(8)

    def client(_):
        start.wait()
        return mp2.fill(text=text)

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(client, range(8)))
    refused = [r for r in replies if r.status == 503]
    assert refused, [r.status for r in replies]
    for reply in refused:
        assert int(reply.headers["Retry-After"]) >= 1
        assert "queue is full" in reply.json()["error"]
    for reply in replies:  # nothing accepted was lost: every other request was answered
        assert reply.status in (200, 503)
        if reply.status == 200:
            same_as_generate_samples(reply.json(), expected[text])
    retried, _ = mp2.fill_retrying(text=text)
    same_as_generate_samples(retried.json(), expected[text])


def test_streaming_yields_the_same_tokens(mp1, texts, expected):
    for text in texts:
        events = mp1.stream(text=text, top_k=1)
        kinds = [kind for kind, _ in events]
        assert kinds[-1] == "done" and "error" not in kinds
        record = expected[text]
        tokens = [[] for _ in record["fill_ids"]]
        shown = ["" for _ in record["fill_ids"]]
        for kind, data in events:
            if kind == "token":
                tokens[data["blank"]].append(data["token_id"])
                shown[data["blank"]] += data["text"]
            elif kind == "blank":
                assert tokens[data["blank"]] == data["fill_ids"]
        assert tokens == record["fill_ids"]
        assert shown == record["fills"]
        assert kinds.count("blank") == len(record["fill_ids"])
        same_as_generate_samples(events[-1][1], record)


def test_32_clients_with_4_requests_each(mp1, texts, expected):
    """Greedy and seeded sampling requests, mixed: every answer is the one it gets alone."""
    sampled = {"temperature": 0.8, "top_k": 40, "max_tokens": 8}  # top-p sorts 50k: slow
    alone = {t: mp1.fill(text=t, seed=7, **sampled).json() for t in texts}

    def client(k: int) -> list[bool]:
        results = []
        for i in range(4):
            text = texts[(k + i) % len(texts)]
            if i == 3:
                answer = mp1.fill(text=text, seed=7, **sampled).json()
                results.append(answer["fill_ids"] == alone[text]["fill_ids"])
            else:
                answer = mp1.fill(text=text, top_k=1).json()
                assert "fill_ids" in answer, answer
                results.append(answer["fill_ids"] == expected[text]["fill_ids"])
        return results

    with ThreadPoolExecutor(32) as pool:
        results = [ok for oks in pool.map(client, range(32)) for ok in oks]
    assert len(results) == 128 and all(results), results.count(False)
    health = mp1.get("/health").json()
    assert health["status"] == "ok" and health["running"] == 0 and health["queued"] == 0


BAD_REQUESTS = [
    ({}, "text"),
    ({"text": 5}, "text"),
    ({"text": "   "}, "text"),
    ({"text": "word " * 240 + "[MASK]"}, "text"),  # longer than 256 - 24 positions
    ({"text": "x" * 20000}, "text"),
    ({"text": "[MASK] " * 30}, "text"),  # 30 blanks x 24 tokens: too many positions
    ({"text": "a [MASK]", "top_k": -1}, "top_k"),
    ({"text": "a [MASK]", "top_k": "5"}, "top_k"),
    ({"text": "a [MASK]", "top_p": 1.5}, "top_p"),
    ({"text": "a [MASK]", "temperature": 0}, "temperature"),
    ({"text": "a [MASK]", "temperature": "hot"}, "temperature"),
    ({"text": "a [MASK]", "max_tokens": 0}, "max_tokens"),
    ({"text": "a [MASK]", "max_tokens": 1000}, "max_tokens"),
    ({"text": "a [MASK]", "min_tokens": -1}, "min_tokens"),
    ({"text": "a [MASK]", "num_beams": 0}, "num_beams"),
    ({"text": "a [MASK]", "num_beams": 99}, "num_beams"),
    ({"text": "a [MASK]", "no_repeat_ngram_size": -2}, "no_repeat_ngram_size"),
    ({"text": "a [MASK]", "seed": -1}, "seed"),
    ({"text": "a [MASK]", "stream": "yes"}, "stream"),
    ({"text": "a [MASK]", "topk": 1}, "topk"),
    ([], "body"),
]


def test_every_bad_request_gets_a_422_naming_the_field(mp1):
    for body, field in BAD_REQUESTS:
        reply = mp1.request("POST", "/v1/fill", json.dumps(body).encode())
        assert reply.status == 422, (body, reply.body)
        error = reply.json()
        assert error["field"] == field, (body, error)
        assert field in error["error"] or field == "text", error
    reply = mp1.request("POST", "/v1/fill", b"{not json")
    assert reply.status == 422 and reply.json()["field"] == "body"
    assert mp1.get("/nowhere").status == 404 and "error" in mp1.get("/nowhere").json()
    assert mp1.get("/v1/fill").status == 405
    assert mp1.get("/health").json()["status"] == "ok"
    assert mp1.fill(text="The quick brown fox").status == 200  # no blank: [gMASK] appended


def _send_and_hang_up(port: int, body: dict, read_bytes: int) -> None:
    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1/fill HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
        )  # fmt: skip
        if read_bytes:
            sock.recv(read_bytes)  # the first event has arrived: decoding is under way


@pytest.mark.parametrize("stream", [True, False])
def test_a_client_that_disconnects_frees_its_row(mp1, stream):
    before = mp1.get("/health").json()
    _send_and_hang_up(mp1.port, {"text": LONG, "top_k": 1, "stream": stream}, 64 if stream else 0)
    for _ in range(100):
        health = mp1.get("/health").json()
        if health["cancelled"] > before["cancelled"] and health["running"] == 0:
            break
        threading.Event().wait(0.05)
    assert health["cancelled"] == before["cancelled"] + 1, health
    assert health["completed"] == before["completed"] and health["running"] == 0


def test_health_model_and_openapi(mp1):
    assert mp1.get("/health").json()["max_batch_size"] == 8
    info = mp1.get("/v1/model").json()
    assert info["model"]["num_layers"] == 2 and info["model_parallel_size"] == 1
    assert info["tokenizer"]["type"] == "GPT2BPETokenizer"
    assert info["checkpoint"].endswith("glm-tiny-gpt2") and info["limits"]["max_tokens"] == 24
    schema = mp1.get("/openapi.json").json()
    fill = schema["paths"]["/v1/fill"]["post"]
    examples = fill["requestBody"]["content"]["application/json"]["examples"]
    assert {"greedy", "sampling", "beam", "stream"} <= set(examples)
    assert {"200", "422", "503"} <= set(fill["responses"])
    assert mp1.get("/docs").status == 200


def start_chromium(profile):
    """Debian's chromium through its chromedriver; missing ones fail the test, loudly."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.fail(
            "the playground test needs Debian's chromium and chromedriver: apt-get install "
            "chromium chromium-driver (scripts/run_tests.sh installs them when it runs as root)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(chromedriver))


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=900,700",
]  # fmt: skip


def test_playground_in_a_browser(mp1, texts, expected, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser = start_chromium(tmp_path / "profile")
    wait = WebDriverWait(browser, 30)
    find = browser.find_element

    def submit() -> str:
        find(By.ID, "fill").click()
        wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                   in ("done", "error"))  # fmt: skip
        return find(By.TAG_NAME, "body").get_attribute("data-state")

    def type_into(element_id: str, value: str) -> None:
        find(By.ID, element_id).clear()
        find(By.ID, element_id).send_keys(value)

    try:
        browser.get(f"http://127.0.0.1:{mp1.port}/")
        wait.until(lambda b: "layers" in b.find_element(By.ID, "model").text)
        record = expected[texts[1]]
        type_into("text", texts[1])
        Select(find(By.ID, "mode")).select_by_value("greedy")
        assert submit() == "done"
        marks = browser.find_elements(By.CSS_SELECTOR, "#output mark.fill")
        assert [m.get_attribute("textContent") for m in marks] == record["fills"]
        assert find(By.ID, "output").get_attribute("textContent") == record["text"]
        streamed = int(find(By.TAG_NAME, "body").get_attribute("data-tokens"))
        assert streamed == sum(map(len, record["fill_ids"]))
        assert not find(By.ID, "error").is_displayed()

        Select(find(By.ID, "mode")).select_by_value("sample")
        type_into("top_p", "5")
        assert submit() == "error"
        assert "top_p" in find(By.ID, "error").text and find(By.ID, "error").is_displayed()
        assert "invalid" in find(By.ID, "top_p").get_attribute("class")
        type_into("top_p", "0.9")
        type_into("text", " ")
        assert submit() == "error" and "empty text" in find(By.ID, "error").text
    finally:
        browser.quit()
