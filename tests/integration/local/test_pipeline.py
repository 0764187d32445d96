"""The LocalPipeline life cycle: what it starts, what it prints, and that stopping leaves nothing behind."""

from __future__ import annotations

import os
import socket
import threading

import psycopg
import pytest

from sluice_local.database import DatabaseKind
from sluice_local.pipeline import LocalPipeline, PipelineConfig, PipelineNotDrainedError
from sluice_shared.roles import WRITER_ROLE
from sluice_shared.sqs import QueueDepth
from sluice_shared.topology import QueueTopology
from tests.support.factories import event_body

TOPOLOGY = QueueTopology(consumer_timeout_seconds=1, batch_size=10, batching_window_seconds=0).validate()


def ok(event, context):
    return {"statusCode": 200, "body": "{}"}


@pytest.fixture
def config(database_factory, aws_environment) -> PipelineConfig:
    return PipelineConfig(database_url=database_factory.create(), topology=TOPOLOGY, poll_wait_seconds=1, ingest=ok)


def _listening(url: str) -> bool:
    host, port = url.removeprefix("http://").split("/", 1)[0].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def test_the_pipeline_says_where_everything_is_and_configures_the_queue_like_the_stack(config):
    with LocalPipeline(config, queue_name="where-test") as pipeline:
        attributes = pipeline.sqs.get_queue_attributes(QueueUrl=pipeline.queue_url, AttributeNames=["All"])
        exports = pipeline.exports()

    assert pipeline.queue_name == "where-test"
    assert attributes["Attributes"]["VisibilityTimeout"] == "6"
    redrive = attributes["Attributes"]["RedrivePolicy"]
    assert '"maxReceiveCount": 5' in redrive
    assert pipeline.queues.dlq_arn in redrive
    assert pipeline.database_kind is DatabaseKind.EXPLICIT
    assert exports["SLUICE_QUEUE_URL"].endswith("/where-test")
    assert exports["SLUICE_DLQ_URL"].endswith("/where-test-dlq")
    assert exports["AWS_ENDPOINT_URL_SQS"] == pipeline.sqs_endpoint
    assert exports["SLUICE_DATABASE_URL"] == config.database_url


def test_stopping_leaves_no_thread_no_listener_and_the_environment_as_it_was(config):
    environment_before = dict(os.environ)
    threads_before = set(threading.enumerate())

    pipeline = LocalPipeline(config).start()
    urls = (pipeline.ingest_url, pipeline.sqs_endpoint)
    assert all(_listening(url) for url in urls)
    assert os.environ["AWS_ENDPOINT_URL_SQS"] == pipeline.sqs_endpoint
    pipeline.stop()

    assert not any(_listening(url) for url in urls)
    assert dict(os.environ) == environment_before
    leftovers = [thread.name for thread in set(threading.enumerate()) - threads_before if thread.is_alive()]
    assert leftovers == []


def test_waiting_for_a_queue_that_cannot_drain_fails_with_the_counts(config):
    def always_fails(event, context):
        raise RuntimeError("down")

    with LocalPipeline(config, consumer=always_fails) as pipeline:
        pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody="{}")

        with pytest.raises(PipelineNotDrainedError, match=r"queue not drained after 1 s: 0 waiting, 1 in flight"):
            pipeline.wait_until_drained(1)
        assert pipeline.depth() == QueueDepth(visible=0, in_flight=1)


def test_a_second_start_is_refused(config):
    with LocalPipeline(config) as pipeline, pytest.raises(RuntimeError, match="already running"):
        pipeline.start()


def test_the_consumer_runs_as_the_writer_role_not_as_the_urls_owner(config):
    with LocalPipeline(config) as pipeline:
        pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=event_body())
        pipeline.wait_until_drained(30)
        with psycopg.connect(config.database_url) as conn:
            stored = conn.execute("SELECT count(*) FROM events").fetchone()
            sessions = conn.execute(
                "SELECT usename FROM pg_stat_activity "
                "WHERE application_name = 'sluice-consumer' AND datname = current_database()"
            ).fetchall()

    assert stored == (1,)
    assert sessions == [(WRITER_ROLE,)]
