"""Debian's librdkafka 2.0.2 enables all its protocol features against the
pinned Kafka 3.9 broker (docs/kafka-local.md section 8, pitfall 1)."""
import os
import subprocess


def test_librdkafka_disables_no_feature():
    out = subprocess.run(
        ["kcat", "-b", os.environ["KAFKA_BROKERS"], "-L", "-d", "feature"],
        capture_output=True, text=True, timeout=30, check=True)
    log = out.stdout + out.stderr
    assert "Updated enabled protocol features" in log
    assert "Disabling feature" not in log
    assert " 1 brokers:" in out.stdout


def test_topics_exist_with_their_partitions():
    out = subprocess.run(["kcat", "-b", os.environ["KAFKA_BROKERS"], "-L"],
                         capture_output=True, text=True, timeout=30,
                         check=True).stdout
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    with open(os.path.join(root, "deploy/local/topics.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, parts = line.strip().split(":")
                assert f'topic "{name}" with {parts} partitions' in out
