"""An Ollama-protocol HTTP server for the job's tests and benchmarks (standard library only).

It speaks the endpoints the official `ollama` client uses (`/`, `/api/version`, `/api/tags`,
`/api/show`, `/api/pull`, `/api/chat`) and answers `format` schemas the way a well-behaved model
under grammar-constrained decoding would: for a generation batch, one record per case
(`{"nps": .., "csat": .., "comment": ".."}`, the comment only where the schema has one) with
scores taken from the schema's enums and a comment about the topic the prompt gives; for a
labelling batch, one label per comment. It honours `num_predict` (a longer answer is cut there,
`done_reason: "length"`, as a real server does) and reports token counts.

A `Behaviour` injects what real deployments and small models do: HTTP 500s, answers that
ignore the schema, slow answers, answers cut off or broken half-way (a raw control character
inside a comment), scores outside the band, near-copies of the previous comment, JSON or labels
instead of sentences, comments that contradict the score, a model that appears only after a
while (someone else's pull), and a pull that streams progress.

Run alone: python -m testkit.ollama_server --port 11434 [--error-rate 0.3 ...]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jobs.comments import NearDuplicates

_TOKEN = re.compile(r"\w+|[^\w\s]")
_CASE_LINE = re.compile(r"^(\d+)\. .*?(?:about: (.+)|no comment)$", re.MULTILINE)
_COMMENT_LINE = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)

OPENERS = {
    "detractor": ("Really disappointed.", "Frustrating experience.", "Not good at all.",
                  "Honestly terrible.", "Very unhappy."),
    "passive": ("It was okay.", "Mixed feelings.", "Fine in the end.", "Average service.",
                "So-so."),
    "promoter": ("Excellent support.", "Great experience.", "Really happy.",
                 "Fantastic service.", "Very pleased."),
}  # fmt: skip
CLOSERS = {
    "detractor": ("I expected much better.", "This cost me a whole afternoon.",
                  "I am thinking about cancelling.", "Nobody seemed to care.", "Please fix this."),
    "passive": ("It did the job.", "Could be faster next time.", "Nothing more to add.",
                "Room for improvement.", "Acceptable overall."),
    "promoter": ("Thank you!", "I will recommend you.", "Keep it up.",
                 "Best support I have had.", "Much appreciated."),
}  # fmt: skip
# Words that make every fake comment its own (the job drops near-copies within an answer).
DETAILS = tuple(
    """
    invoice router parcel laptop voucher tablet subscription refund printer password modem
    contract warranty upgrade delivery account voicemail charger booking screen coupon ticket
    kettle camera headset keyboard mattress bicycle sofa blender heater speaker lamp jacket
    suitcase monitor scanner wallet helmet backpack cooker fridge
    """.split()  # noqa: SIM905 - a word list reads best as words
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
POSITIVE = {"excellent", "great", "happy", "fantastic", "pleased", "thank", "recommend", "best"}
NEGATIVE = {"disappointed", "frustrating", "terrible", "unhappy", "cancelling", "not", "fix"}
MARKUP = 'The agent knew the product well...},{"'
LABEL = "4.3, product review/product improvement"


def approx_tokens(text: str) -> int:
    """A stand-in tokenizer: words and punctuation marks (close to BPE counts for English)."""
    return len(_TOKEN.findall(text))


def category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


@dataclass
class Behaviour:
    """What the server does; tests change it while the server runs."""

    models: set[str] = field(default_factory=lambda: {"test-model:latest"})
    error_rate: float = 0.0  # HTTP 500 instead of an answer
    garbage_rate: float = 0.0  # 200 with an answer that ignores the schema
    client_error_status: int | None = None  # e.g. 400: every chat call is refused
    delay_s: float = 0.0  # before every chat answer
    pull_seconds: float = 0.0  # a pull streams progress this long before the model is there
    # A drifting model: per answer ...
    truncate_rate: float = 0.0  # cut off after a record or two, mid-comment
    control_char_rate: float = 0.0  # a raw newline inside a comment, then a missing comma
    wrong_count_rate: float = 0.0  # one record too many or too few
    # ... or per record (at most one kind each, so every dropped record has one known cause).
    out_of_band_rate: float = 0.0  # an NPS or CSAT score outside the case's band
    near_duplicate_rate: float = 0.0  # the previous comment again, with a word changed
    markup_rate: float = 0.0  # JSON syntax inside the comment
    label_rate: float = 0.0  # a label, not a sentence
    contradiction_rate: float = 0.0  # the opposite mood
    seed: int = 7


@dataclass
class Stats:
    chat_calls: int = 0
    answers: Counter = field(default_factory=Counter)  # ok, http_500, garbage, ...
    injected: Counter = field(default_factory=Counter)  # drift injected per answer / record
    seeds: list[int] = field(default_factory=list)
    temperatures: list[float] = field(default_factory=list)
    num_predicts: list[int | None] = field(default_factory=list)
    formats: list[dict] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)  # the user message of every chat call
    answers_text: list[str] = field(default_factory=list)  # the content of every ok answer
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Model:
    """Writes answers that follow the requested schema, with the drift the behaviour asks for."""

    def __init__(self, behaviour: Behaviour, stats: Stats, rng: random.Random) -> None:
        self.b = behaviour
        self.stats = stats
        self.rng = rng
        self.previous: dict[str, str] = {}  # mood -> the last clean comment of this answer
        # A well-behaved model writes every comment of an answer differently, by the job's own
        # measure of "nearly the same".
        self.written = NearDuplicates()

    def answer(self, schema: dict, messages: list[dict]) -> str:
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        if "answers" in props:
            return self._broken(json.dumps({"answers": self._records(props["answers"], user)}))
        if "labels" in props:
            return json.dumps({"labels": self._labels(props["labels"], user)})
        return json.dumps({"text": "hello"})

    def _drift(self, rate: float, kind: str) -> bool:
        if rate > 0 and self.rng.random() < rate:
            self.stats.injected[kind] += 1
            return True
        return False

    def _broken(self, content: str) -> str:
        """The whole answer, or one cut off / broken after its first records."""
        first_end = content.find("}, {") + 1  # the end of the first record
        second_end = content.find("}, {", first_end + 1) + 1
        if first_end < 1 or second_end < 1:
            return content
        if self._drift(self.b.truncate_rate, "truncated"):
            # Part of the way into the second record: a real cut-off, mid-comment or mid-score.
            return content[: first_end + max(6, (second_end - first_end) // 2)]
        if self._drift(self.b.control_char_rate, "control_char"):
            # A raw newline inside the first record (invalid JSON, but readable), and the comma
            # after the second record missing: the records after the break are lost.
            head = content[:first_end].replace('"nps":', '"nps":\n', 1)
            return head + content[first_end:second_end] + " " + content[second_end + 1 :]
        return content

    def _records(self, array: dict, user: str) -> list[dict]:
        topics = {int(n): (topic or "").strip() for n, topic in _CASE_LINE.findall(user)}
        shapes = list(array.get("prefixItems", []))
        records = [self._record(number, shape, topics) for number, shape in enumerate(shapes, 1)]
        if records and self._drift(self.b.wrong_count_rate, "wrong_count"):
            if self.rng.random() < 0.5:
                records.pop()
            else:
                records.append(dict(records[0]))
        return records

    def _record(self, number: int, shape: dict, topics: dict[int, str]) -> dict:
        properties = shape.get("properties", {})
        nps = self.rng.choice(properties["nps"]["enum"])
        record: dict = {"nps": nps, "csat": self.rng.choice(properties["csat"]["enum"])}
        mood = category(nps)
        if "comment" in properties:
            topic = topics.get(number) or "my support request"
            comment = self._comment(mood, topic)
            while not self.written.add(comment):
                comment = self._comment(mood, topic)
            record["comment"] = comment
        if self._drift(self.b.out_of_band_rate, "out_of_band"):
            record["nps"] = 10 if mood == "detractor" else 0
        elif "comment" in record:
            clean = record["comment"]
            record["comment"] = self._drifted_comment(clean, mood, topics.get(number) or "")
            if record["comment"] == clean:  # kept by the job: what a near-copy would copy
                self.previous[mood] = clean
        return record

    def _drifted_comment(self, comment: str, mood: str, topic: str) -> str:
        previous = self.previous.get(mood)
        if previous and self._drift(self.b.near_duplicate_rate, "near_duplicate"):
            return previous.replace(".", "!", 1)
        if self._drift(self.b.markup_rate, "markup"):
            return MARKUP
        if self._drift(self.b.label_rate, "label"):
            return LABEL
        if mood != "passive" and self._drift(self.b.contradiction_rate, "contradiction"):
            return self._comment("promoter" if mood == "detractor" else "detractor", topic)
        return comment

    def _comment(self, mood: str, topic: str) -> str:
        things = self.rng.sample(DETAILS, 6)
        return (
            f"{self.rng.choice(OPENERS[mood])} About {topic}: my {things[0]}, {things[1]} and "
            f"{things[2]}, then the {things[3]}, {things[4]} and {things[5]} on "
            f"{self.rng.choice(WEEKDAYS)}. {self.rng.choice(CLOSERS[mood])}"
        )

    def _labels(self, array: dict, user: str) -> list[str]:
        comments = {int(n): text for n, text in _COMMENT_LINE.findall(user)}
        labels = []
        for number in range(1, len(array.get("prefixItems", [])) + 1):
            words = set(re.findall(r"[a-z]+", comments.get(number, "").lower()))
            positive, negative = len(words & POSITIVE), len(words & NEGATIVE)
            labels.append(
                "positive"
                if positive > negative
                else "negative"
                if negative > positive
                else "neutral"
            )
        return labels


def _cut_to_tokens(text: str, limit: int) -> str:
    """The first `limit` stand-in tokens of `text` (what num_predict leaves of an answer)."""
    for count, match in enumerate(_TOKEN.finditer(text), start=1):
        if count == limit:
            return text[: match.end()]
    return text


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    server: OllamaTestServer._HTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without this, delayed ACKs add ~40 ms a call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to do

    def _json(self, status: int, payload) -> None:
        self._send(status, json.dumps(payload).encode())

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_HEAD(self) -> None:
        self._send(200, b"")

    def do_GET(self) -> None:
        owner = self.server.owner
        if self.path == "/":
            self._send(200, b"Ollama is running", "text/plain")
        elif self.path == "/api/version":
            self._json(200, {"version": "0.12.6-test"})
        elif self.path == "/api/tags":
            self._json(
                200,
                {"models": [owner.model_entry(name) for name in sorted(owner.behaviour.models)]},
            )
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        owner = self.server.owner
        body = self._body()
        name = owner.canonical(body.get("model", ""))
        if self.path == "/api/show":
            if name not in owner.behaviour.models:
                self._json(404, {"error": f"model '{body.get('model')}' not found"})
            else:
                self._json(
                    200,
                    {
                        "modelfile": "",
                        "parameters": "",
                        "template": "{{ .Prompt }}",
                        "details": owner.model_entry(name)["details"],
                        "model_info": {},
                        "capabilities": ["completion"],
                    },
                )
        elif self.path == "/api/pull":
            self._pull(owner, name)
        elif self.path == "/api/chat":
            self._chat(owner, name, body)
        else:
            self._json(404, {"error": "not found"})

    def _pull(self, owner: OllamaTestServer, name: str) -> None:
        """Streams progress lines (one per 50 ms over `pull_seconds`), then adds the model."""
        steps = max(1, int(owner.behaviour.pull_seconds / 0.05))
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            lines = [{"status": "pulling manifest"}]
            for step in range(1, steps + 1):
                lines.append({"status": "pulling 0123abcd", "digest": "sha256:00",
                              "total": 1000, "completed": 1000 * step // steps})  # fmt: skip
            for line in lines:
                self._chunk(json.dumps(line).encode() + b"\n")
                if owner.behaviour.pull_seconds:
                    time.sleep(owner.behaviour.pull_seconds / steps)
            owner.behaviour.models.add(name)
            self._chunk(json.dumps({"status": "success"}).encode() + b"\n")
            self._chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _chat(self, owner: OllamaTestServer, name: str, body: dict) -> None:
        b = owner.behaviour
        options = body.get("options") or {}
        messages = body.get("messages") or []
        with owner.lock:
            owner.stats.chat_calls += 1
            owner.stats.seeds.append(options.get("seed"))
            owner.stats.temperatures.append(options.get("temperature"))
            owner.stats.num_predicts.append(options.get("num_predict"))
            owner.stats.formats.append(body.get("format"))
            owner.stats.prompts.append(messages[-1].get("content", "") if messages else "")
            roll = owner.rng.random()
        if b.delay_s:
            time.sleep(b.delay_s)
        if name not in b.models:
            self._json(404, {"error": f"model '{body.get('model')}' not found, try pulling it"})
            return
        if b.client_error_status:
            owner.count("http_4xx")
            self._json(b.client_error_status, {"error": "invalid request"})
            return
        if roll < b.error_rate:
            owner.count("http_500")
            self._json(500, {"error": "llama runner process has terminated"})
            return
        if roll < b.error_rate + b.garbage_rate:
            owner.count("garbage")
            self._garbage(owner)
            return
        with owner.lock:
            content = _Model(b, owner.stats, owner.rng).answer(body.get("format") or {}, messages)
        done_reason = "stop"
        limit = options.get("num_predict")
        if isinstance(limit, int) and limit > 0 and approx_tokens(content) > limit:
            content, done_reason = _cut_to_tokens(content, limit), "length"
        prompt = sum(approx_tokens(m.get("content", "")) for m in messages)
        completion = approx_tokens(content)
        with owner.lock:
            owner.stats.prompt_tokens += prompt
            owner.stats.completion_tokens += completion
            owner.stats.answers_text.append(content)
        owner.count("ok")
        self._json(
            200,
            {
                "model": body.get("model"),
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": content},
                "done": True,
                "done_reason": done_reason,
                "total_duration": 1000,
                "prompt_eval_count": prompt,
                "eval_count": completion,
                "eval_duration": 1_000_000 * completion,  # 1000 tokens/s
            },
        )

    def _garbage(self, owner: OllamaTestServer) -> None:
        with owner.lock:
            kind = owner.rng.choice(("prose", "truncated", "wrong_shape", "not_json_body"))
        if kind == "not_json_body":
            self._send(200, b"<html>502 bad gateway</html>", "text/html")
            return
        content = {
            "prose": "Sure! Here are the survey answers you asked for.",
            "truncated": '{"answers": [{"n',
            "wrong_shape": json.dumps({"answer": "I cannot help with that."}),
        }[kind]
        self._json(
            200,
            {
                "model": "x",
                "message": {"role": "assistant", "content": content},
                "done": True,
                "prompt_eval_count": 10,
                "eval_count": 5,
            },
        )


class OllamaTestServer:
    """Starts on 127.0.0.1 (a free port unless given) in a daemon thread."""

    class _HTTPServer(ThreadingHTTPServer):
        daemon_threads = True
        owner: OllamaTestServer

    def __init__(self, behaviour: Behaviour | None = None, port: int = 0) -> None:
        self.behaviour = behaviour or Behaviour()
        self.stats = Stats()
        self.lock = threading.Lock()
        self.rng = random.Random(self.behaviour.seed)
        self._server = self._HTTPServer(("127.0.0.1", port), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def canonical(self, name: str) -> str:
        return name if ":" in name else f"{name}:latest"

    def count(self, kind: str) -> None:
        with self.lock:
            self.stats.answers[kind] += 1

    def model_entry(self, name: str) -> dict:
        return {
            "name": name,
            "model": name,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 1,
            "digest": "0" * 64,
            "details": {
                "format": "gguf",
                "family": "test",
                "parameter_size": "1M",
                "quantization_level": "Q4_0",
            },
        }

    def add_model(self, name: str) -> None:
        """Makes a model available, as someone else's finished pull would."""
        self.behaviour.models.add(self.canonical(name))

    def start(self) -> OllamaTestServer:
        self.behaviour.models = {self.canonical(m) for m in self.behaviour.models}
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OllamaTestServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


RATES = (
    "error-rate",
    "garbage-rate",
    "delay-s",
    "pull-seconds",
    "truncate-rate",
    "control-char-rate",
    "wrong-count-rate",
    "out-of-band-rate",
    "near-duplicate-rate",
    "markup-rate",
    "label-rate",
    "contradiction-rate",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", action="append", default=[])
    for name in RATES:
        parser.add_argument(f"--{name}", type=float, default=0.0)
    args = parser.parse_args()
    behaviour = Behaviour(
        models=set(args.model or ["test-model"]),
        **{name.replace("-", "_"): getattr(args, name.replace("-", "_")) for name in RATES},
    )
    server = OllamaTestServer(behaviour, port=args.port).start()
    print(f"listening on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
