"""HTTP throughput benchmarks for TruAPI (``python -m bench.run``; see ``bench/README.md``)."""
