"""An Ollama-protocol HTTP server for the job's tests and benchmark (standard library only).

It speaks the endpoints the official `ollama` client uses (`/`, `/api/version`, `/api/tags`,
`/api/show`, `/api/pull`, `/api/chat`), answers `format` schemas the way a well-behaved model
under grammar-constrained decoding would (consts, enums, ranges, exact item counts), writes
comments that fit the requested NPS score, labels sentiment from the comment's words, and
reports token counts. A `Behaviour` injects what real deployments see: HTTP 500s, garbage,
slow answers, and a drifting model (wrong item counts, out-of-range scores, unknown channels,
comments that contradict the score).

Run alone: python -m tests.job.ollama_server --port 11434 [--error-rate 0.3 ...]
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

_TOKEN = re.compile(r"\w+|[^\w\s]")
_CASE_LINE = re.compile(r"^(\d+)\. .*?topic: (.+)$", re.MULTILINE)
_COMMENT_LINE = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)

OPENERS = {
    "detractor": (
        "Really disappointed:",
        "Frustrating experience:",
        "Not good at all:",
        "Honestly terrible:",
        "Very unhappy:",
    ),
    "passive": (
        "It was okay:",
        "Mixed feelings:",
        "Fine in the end:",
        "Average service:",
        "So-so:",
    ),
    "promoter": (
        "Excellent support:",
        "Great experience:",
        "Really happy:",
        "Fantastic service:",
        "Very pleased:",
    ),
}
CLOSERS = {
    "detractor": (
        "I expected much better.",
        "This cost me a whole afternoon.",
        "I am thinking about cancelling.",
        "Nobody seemed to care.",
        "Please fix this.",
    ),
    "passive": (
        "It did the job.",
        "Could be faster next time.",
        "Nothing more to add.",
        "Room for improvement.",
        "Acceptable overall.",
    ),
    "promoter": (
        "Thank you!",
        "I will recommend you.",
        "Keep it up.",
        "Best support I have had.",
        "Much appreciated.",
    ),
}
POSITIVE = {"excellent", "great", "happy", "fantastic", "pleased", "thank", "recommend", "best"}
NEGATIVE = {"disappointed", "frustrating", "terrible", "unhappy", "cancelling", "not", "fix"}


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
    garbage_rate: float = 0.0  # 200 with an unusable answer
    client_error_status: int | None = None  # e.g. 400: every chat call is refused
    delay_s: float = 0.0  # before every chat answer
    # A drifting model: per answer, or per record.
    wrong_count_rate: float = 0.0
    out_of_range_rate: float = 0.0
    unknown_channel_rate: float = 0.0
    contradiction_rate: float = 0.0
    seed: int = 7


@dataclass
class Stats:
    chat_calls: int = 0
    answers: Counter = field(default_factory=Counter)  # ok, http_500, garbage, ...
    injected: Counter = field(default_factory=Counter)  # drift injected per record
    seeds: list[int] = field(default_factory=list)
    formats: list[dict] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Model:
    """Writes answers that follow the requested schema."""

    def __init__(self, behaviour: Behaviour, stats: Stats, rng: random.Random) -> None:
        self.b = behaviour
        self.stats = stats
        self.rng = rng

    def answer(self, schema: dict, messages: list[dict]) -> str:
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        if "responses" in props:
            return json.dumps({"responses": self._responses(props["responses"], user)})
        if "labels" in props:
            return json.dumps({"labels": self._labels(props["labels"], user)})
        return json.dumps({"text": "hello"})

    def _drift(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def _responses(self, array: dict, user: str) -> list[dict]:
        topics = {int(n): topic.strip() for n, topic in _CASE_LINE.findall(user)}
        schemas = list(array.get("prefixItems", []))
        extra = False
        if schemas and self._drift(self.b.wrong_count_rate):
            if self.rng.random() < 0.5:
                self.stats.injected["missing_item"] += 1
                schemas.pop(self.rng.randrange(len(schemas)))
            else:
                self.stats.injected["extra_item"] += 1
                extra = True
        items = [self._record(schema["properties"], topics) for schema in schemas]
        if extra:  # one record more than asked for, numbered past the last case
            items.append({**items[0], "case": len(array["prefixItems"]) + 1})
        return items

    def _record(self, p: dict, topics: dict[int, str]) -> dict:
        number = p["case"]["const"]
        score = p["nps_score"]["const"]
        mood = category(score)
        topic = topics.get(number, "my support request")
        item = {
            "case": number,
            "channel": p["channel"]["const"],
            "customer_type": p["customer_type"]["const"],
            "nps_score": score,
            "csat_score": self.rng.randint(p["csat_score"]["minimum"], p["csat_score"]["maximum"]),
            "comment": self._comment(mood, topic),
        }
        # At most one kind of drift per record, so each dropped record has one known cause.
        if self._drift(self.b.out_of_range_rate):
            self.stats.injected["out_of_range"] += 1
            item["nps_score"] = self.rng.choice([11, 12, -1])
        elif self._drift(self.b.unknown_channel_rate):
            self.stats.injected["unknown_channel"] += 1
            item["channel"] = "fax"
        elif mood != "passive" and self._drift(self.b.contradiction_rate):
            self.stats.injected["contradiction"] += 1
            item["comment"] = self._comment(
                "promoter" if mood == "detractor" else "detractor", topic
            )
        return item

    def _comment(self, mood: str, topic: str) -> str:
        return (
            f"{self.rng.choice(OPENERS[mood])} {topic}, contact #{self.rng.randint(100, 999)}. "
            f"{self.rng.choice(CLOSERS[mood])}"
        )

    def _labels(self, array: dict, user: str) -> list[dict]:
        comments = {int(n): text for n, text in _COMMENT_LINE.findall(user)}
        labels = []
        for item_schema in array.get("prefixItems", []):
            number = item_schema["properties"]["item"]["const"]
            words = set(re.findall(r"[a-z]+", comments.get(number, "").lower()))
            positive, negative = len(words & POSITIVE), len(words & NEGATIVE)
            label = (
                "positive"
                if positive > negative
                else "negative"
                if negative > positive
                else "neutral"
            )
            labels.append({"item": number, "sentiment": label})
        return labels


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
            owner.behaviour.models.add(name)
            lines = [
                {"status": "pulling manifest"},
                {"status": "downloading", "digest": "sha256:00", "total": 100, "completed": 100},
                {"status": "success"},
            ]
            self._send(
                200, "".join(json.dumps(x) + "\n" for x in lines).encode(), "application/x-ndjson"
            )
        elif self.path == "/api/chat":
            self._chat(owner, name, body)
        else:
            self._json(404, {"error": "not found"})

    def _chat(self, owner: OllamaTestServer, name: str, body: dict) -> None:
        b = owner.behaviour
        with owner.lock:
            owner.stats.chat_calls += 1
            owner.stats.seeds.append((body.get("options") or {}).get("seed"))
            owner.stats.formats.append(body.get("format"))
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
            content = _Model(b, owner.stats, owner.rng).answer(
                body.get("format") or {}, body.get("messages") or []
            )
        prompt = sum(approx_tokens(m.get("content", "")) for m in body.get("messages") or [])
        completion = approx_tokens(content)
        with owner.lock:
            owner.stats.prompt_tokens += prompt
            owner.stats.completion_tokens += completion
        owner.count("ok")
        self._json(
            200,
            {
                "model": body.get("model"),
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": content},
                "done": True,
                "done_reason": "stop",
                "total_duration": 1000,
                "prompt_eval_count": prompt,
                "eval_count": completion,
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
            "truncated": '{"responses": [{"case": 1, "channel": "ph',
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", action="append", default=[])
    for name in (
        "error-rate",
        "garbage-rate",
        "delay-s",
        "wrong-count-rate",
        "out-of-range-rate",
        "unknown-channel-rate",
        "contradiction-rate",
    ):
        parser.add_argument(f"--{name}", type=float, default=0.0)
    args = parser.parse_args()
    behaviour = Behaviour(
        models=set(args.model or ["test-model"]),
        error_rate=args.error_rate,
        garbage_rate=args.garbage_rate,
        delay_s=args.delay_s,
        wrong_count_rate=args.wrong_count_rate,
        out_of_range_rate=args.out_of_range_rate,
        unknown_channel_rate=args.unknown_channel_rate,
        contradiction_rate=args.contradiction_rate,
    )
    server = OllamaTestServer(behaviour, port=args.port).start()
    print(f"listening on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
