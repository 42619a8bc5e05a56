"""What the tests and the benchmarks both need: throwaway PostgreSQL databases (pg), the
Ollama-protocol server (ollama_server), Debian's Chromium (browser), free ports (ports)."""
