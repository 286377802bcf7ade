# serve: self
"""Security of `strata serve` with real clients (issue 18): TLS with kcat and confluent-kafka
(`security.protocol=SSL`, a CA and certificates made here with `openssl req -x509`), SASL PLAIN and
SCRAM-SHA-256/512 over SASL_PLAINTEXT and SASL_SSL with confluent-kafka, kafka-python and aiokafka, a
wrong password refused (and no password in serve's log), ACLs: a denied produce gets
TOPIC_AUTHORIZATION_FAILED with nothing written, Metadata filtered, SIGHUP reloading the file (a bad
one keeps the rules), a client certificate's CN as the principal, and a bad PEM refused at start.
"""

import asyncio
import os
import signal
import subprocess
import time

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from kafka_support import (
    LAKE,
    STRATA_BIN,
    TIMEOUT,
    WORK,
    Rec,
    Serve,
    ak_consume,
    ak_produce,
    check_records,
    ck_consume,
    ck_produce,
    ck_producer,
    kp_consume,
    kp_produce,
    topic_name,
)

PASSWORDS = {"alice": "alice-pw-Zq81", "bob": "bob-pw-Xy27"}
WRONG = "not-the-password-Kw55"
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
ACL = """# alice may do anything; bob only his own topics
allow User:alice topic * all
allow User:alice group * all
allow User:bob topic bob- all
"""


def run(*args, input=None):
    out = subprocess.run(list(args), input=input, capture_output=True, timeout=120)
    assert out.returncode == 0, f"{args[0]} exited {out.returncode}: {out.stderr.decode(errors='replace')[-600:]}"
    return out


@pytest.fixture(scope="module")
def pki():
    """A CA, a server certificate for 127.0.0.1 and a client certificate with CN=carol, both signed by it."""
    d = os.path.join(WORK, "pki")
    os.makedirs(d, exist_ok=True)
    p = {name: os.path.join(d, name) for name in ["ca.pem", "ca.key", "server.pem", "server.key", "carol.pem", "carol.key"]}
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=strata-test-ca",
        "-keyout", p["ca.key"], "-out", p["ca.pem"])
    for name, cn, ext in [("server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                          ("carol", "carol", "extendedKeyUsage=clientAuth")]:
        csr, extfile = os.path.join(d, name + ".csr"), os.path.join(d, name + ".ext")
        with open(extfile, "w") as f:
            f.write(ext + "\n")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", p[name + ".key"],
            "-out", csr)
        run("openssl", "x509", "-req", "-in", csr, "-CA", p["ca.pem"], "-CAkey", p["ca.key"], "-CAcreateserial",
            "-days", "2", "-extfile", extfile, "-out", p[name + ".pem"])
    return p


@pytest.fixture(scope="module")
def users():
    path = os.path.join(WORK, "users.txt")
    for name, password in PASSWORDS.items():
        run(STRATA_BIN, "users", "add", name, "--mechanism", "all", "--password-stdin", "--file", path,
            input=(password + "\n").encode())
    text = open(path).read()
    for password in PASSWORDS.values():
        assert password not in text, "the users file holds a password"
    return path


def tls_args(pki):
    return ["--tls-cert", pki["server.pem"], "--tls-key", pki["server.key"], "--tls-listen", "127.0.0.1:0"]


@pytest.fixture(scope="module")
def tls_serve(pki):
    s = Serve(os.path.join(WORK, "lake-tls"), args=tls_args(pki)).start()
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def sasl_serve(pki, users):
    acl = os.path.join(WORK, "acl.txt")
    with open(acl, "w") as f:
        f.write(ACL)
    s = Serve(os.path.join(WORK, "lake-sasl"), args=[*tls_args(pki), "--sasl-users", users, "--acl", acl]).start()
    s.acl = acl
    yield s
    assert s.stop() == 0


def ssl_conf(pki, address):
    return {"bootstrap.servers": address, "security.protocol": "SSL", "ssl.ca.location": pki["ca.pem"]}


def sasl_conf(serve, pki, mechanism, user="alice", password=None, tls=False):
    conf = {
        "bootstrap.servers": serve.tls_address if tls else serve.address,
        "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password or PASSWORDS[user],
    }
    if tls:
        conf["ssl.ca.location"] = pki["ca.pem"]
    return conf


def kp_conf(serve, pki, mechanism, user="alice", password=None, tls=False):
    import ssl

    conf = {
        "bootstrap_servers": serve.tls_address if tls else serve.address,
        "security_protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password or PASSWORDS[user],
    }
    if tls:
        context = ssl.create_default_context(cafile=pki["ca.pem"])
        conf["ssl_context"] = context
    return conf


RECORDS = [Rec(b"k%d" % i, b"value-%d" % i, (), None) for i in range(20)]


# --- TLS ---------------------------------------------------------------------------------------


def test_kcat_over_tls(tls_serve, pki):
    topic = topic_name("tls-kcat")
    ssl = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={pki['ca.pem']}"]
    lines = b"".join(b"line-%d\n" % i for i in range(50))
    run("kcat", "-b", tls_serve.tls_address, *ssl, "-P", "-t", topic, input=lines)
    out = run("kcat", "-b", tls_serve.tls_address, *ssl, "-C", "-t", topic, "-o", "beginning", "-e", "-q")
    assert out.stdout == lines


def test_confluent_over_tls_and_metadata_advertises_the_listener(tls_serve, pki):
    topic = topic_name("tls-ck")
    offsets = ck_produce(RECORDS, topic, **ssl_conf(pki, tls_serve.tls_address))
    assert [o for _, o in offsets] == list(range(len(RECORDS)))
    got, got_offsets = ck_consume(topic, 0, 0, len(RECORDS), **ssl_conf(pki, tls_serve.tls_address))
    check_records(RECORDS, got, got_offsets, "confluent over TLS")
    for address, conf in [(tls_serve.tls_address, ssl_conf(pki, tls_serve.tls_address)),
                          (tls_serve.address, {"bootstrap.servers": tls_serve.address})]:
        brokers = AdminClient(conf).list_topics(timeout=TIMEOUT).brokers
        assert [f"{b.host}:{b.port}" for b in brokers.values()] == [address]


def test_plaintext_client_on_the_tls_port_fails_and_serve_goes_on(tls_serve, pki):
    admin = AdminClient({"bootstrap.servers": tls_serve.tls_address, "socket.timeout.ms": 3000})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    assert AdminClient(ssl_conf(pki, tls_serve.tls_address)).list_topics(timeout=TIMEOUT).brokers


def test_listen_none_leaves_only_tls(pki):
    s = Serve(os.path.join(WORK, "lake-tls-only"), listen="none", args=tls_args(pki)).start()
    try:
        assert s.address == "" and s.tls_address
        assert AdminClient(ssl_conf(pki, s.tls_address)).list_topics(timeout=TIMEOUT).brokers
    finally:
        assert s.stop() == 0


def test_bad_pem_is_refused_at_start_naming_the_file(pki):
    bad = os.path.join(WORK, "bad.pem")
    with open(bad, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    out = subprocess.run(
        [STRATA_BIN, "serve", "--lake", os.path.join(WORK, "lake-bad"), "--listen", "127.0.0.1:0",
         "--tls-cert", bad, "--tls-key", pki["server.key"], "--tls-listen", "127.0.0.1:0"],
        capture_output=True, timeout=60)
    assert out.returncode != 0
    assert b"listening" not in out.stdout
    assert bad.encode() in out.stderr, out.stderr
    out = subprocess.run(
        [STRATA_BIN, "serve", "--lake", os.path.join(WORK, "lake-bad"), "--listen", "127.0.0.1:0",
         "--tls-cert", pki["server.pem"], "--tls-key", os.path.join(WORK, "absent.key")],
        capture_output=True, timeout=60)
    assert out.returncode != 0 and b"absent.key" in out.stderr, out.stderr


# --- client certificates -----------------------------------------------------------------------


def test_client_certificate_cn_is_the_principal(pki):
    acl = os.path.join(WORK, "acl-mtls.txt")
    with open(acl, "w") as f:
        f.write("allow User:carol topic mtls- all\n")
    s = Serve(os.path.join(WORK, "lake-mtls"), args=[*tls_args(pki), "--tls-client-ca", pki["ca.pem"], "--acl", acl])
    s.start()
    try:
        conf = {**ssl_conf(pki, s.tls_address), "ssl.certificate.location": pki["carol.pem"],
                "ssl.key.location": pki["carol.key"]}
        topic = topic_name("mtls")
        ck_produce(RECORDS[:3], topic, **conf)
        names = set(AdminClient(conf).list_topics(timeout=TIMEOUT).topics)
        assert topic in names and all(n.startswith("mtls-") for n in names), names
        denied = topic_name("other")
        err = produce_error(denied, conf)
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
        # Without a certificate the handshake fails.
        with pytest.raises(KafkaException):
            AdminClient({**ssl_conf(pki, s.tls_address), "socket.timeout.ms": 3000}).list_topics(timeout=5)
    finally:
        assert s.stop() == 0


def produce_error(topic, conf):
    """The delivery error of one record (None when it was delivered)."""
    errors = []
    p = ck_producer(**{**conf, "message.timeout.ms": 10000, "enable.idempotence": False})
    p.produce(topic, b"x", on_delivery=lambda err, msg: errors.append(err))
    p.flush(TIMEOUT)
    assert len(errors) == 1
    return errors[0]


# --- SASL --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_confluent_sasl(sasl_serve, pki, mechanism, tls):
    topic = topic_name("ck-" + mechanism.lower())
    conf = sasl_conf(sasl_serve, pki, mechanism, tls=tls)
    offsets = ck_produce(RECORDS, topic, **conf)
    assert [o for _, o in offsets] == list(range(len(RECORDS)))
    got, got_offsets = ck_consume(topic, 0, 0, len(RECORDS), **conf)
    check_records(RECORDS, got, got_offsets, f"confluent {mechanism} tls={tls}")


@pytest.mark.parametrize("tls", [False, True], ids=["SASL_PLAINTEXT", "SASL_SSL"])
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_kafka_python_sasl(sasl_serve, pki, mechanism, tls):
    topic = topic_name("kp-" + mechanism.lower())
    conf = kp_conf(sasl_serve, pki, mechanism, tls=tls)
    ck_produce(RECORDS, topic, **sasl_conf(sasl_serve, pki, mechanism, tls=tls))
    got, got_offsets = kp_consume(topic, 0, 0, len(RECORDS), **conf)
    check_records(RECORDS, got, got_offsets, f"kafka-python {mechanism} tls={tls}")
    kp_produce(RECORDS[:2], topic, **conf)


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_aiokafka_sasl(sasl_serve, pki, mechanism):
    topic = topic_name("ak-" + mechanism.lower())
    conf = kp_conf(sasl_serve, pki, mechanism)
    asyncio.run(ak_produce(RECORDS, topic, **conf))
    got, got_offsets = asyncio.run(ak_consume(topic, 0, 0, len(RECORDS), **conf))
    check_records(RECORDS, got, got_offsets, f"aiokafka {mechanism}")


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_wrong_password_is_refused_and_never_logged(sasl_serve, pki, mechanism):
    conf = {**sasl_conf(sasl_serve, pki, mechanism, password=WRONG), "socket.timeout.ms": 5000}
    with pytest.raises(KafkaException) as refused:
        AdminClient(conf).list_topics(timeout=10)
    note_text = str(refused.value)
    assert WRONG not in note_text
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError as KpError

    with pytest.raises(KpError):
        KafkaConsumer(**kp_conf(sasl_serve, pki, mechanism, password=WRONG), api_version_auto_timeout_ms=5000)
    log = open(sasl_serve.log_path, "rb").read()
    assert b"authentication failed" in log
    for secret in [WRONG, *PASSWORDS.values()]:
        assert secret.encode() not in log, f"serve logged a password: {secret}"


def test_no_sasl_means_no_requests(sasl_serve):
    admin = AdminClient({"bootstrap.servers": sasl_serve.address, "socket.timeout.ms": 3000})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)


# --- ACLs --------------------------------------------------------------------------------------


def test_acl_denied_produce_writes_nothing_and_metadata_is_filtered(sasl_serve, pki):
    alice = sasl_conf(sasl_serve, pki, "SCRAM-SHA-256")
    bob = sasl_conf(sasl_serve, pki, "SCRAM-SHA-256", user="bob")
    secret = topic_name("secret")
    ck_produce(RECORDS[:1], secret, **alice)
    err = produce_error(secret, bob)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    # kafka-python sends the Produce itself: the handler's own refusal.
    from kafka.errors import TopicAuthorizationFailedError

    with pytest.raises(Exception) as raised:
        kp_produce([Rec(b"k", b"v", (), None)], secret, **kp_conf(sasl_serve, pki, "SCRAM-SHA-256", user="bob"),
                   max_block_ms=10000)
    assert "TopicAuthorization" in repr(raised.value) or isinstance(raised.value, TopicAuthorizationFailedError)
    got, _ = ck_consume(secret, 0, 0, 5, **alice)
    assert len(got) == 1, f"{len(got)} records in {secret}: a denied produce wrote"

    mine = topic_name("bob-own")
    ck_produce(RECORDS[:2], mine, **bob)
    bobs = set(AdminClient(bob).list_topics(timeout=TIMEOUT).topics)
    assert mine in bobs and secret not in bobs, bobs
    assert all(t.startswith("bob-") for t in bobs), bobs
    assert {secret, mine} <= set(AdminClient(alice).list_topics(timeout=TIMEOUT).topics)


def test_sighup_reloads_the_acl_and_a_bad_file_keeps_it(sasl_serve, pki):
    bob = sasl_conf(sasl_serve, pki, "PLAIN", user="bob")
    alice = sasl_conf(sasl_serve, pki, "PLAIN")
    shared = topic_name("shared")
    ck_produce(RECORDS[:1], shared, **alice)
    assert shared not in AdminClient(bob).list_topics(timeout=TIMEOUT).topics
    try:
        with open(sasl_serve.acl, "w") as f:
            f.write(ACL + "allow User:bob topic shared- describe\n")
        sasl_serve.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + TIMEOUT
        while shared not in AdminClient(bob).list_topics(timeout=TIMEOUT).topics:
            assert time.monotonic() < deadline, "SIGHUP did not reload the ACL file"
            time.sleep(0.2)
        with open(sasl_serve.acl, "w") as f:
            f.write("allow bob everything\n")
        sasl_serve.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + TIMEOUT
        while b"previous rules stay in force" not in open(sasl_serve.log_path, "rb").read():
            assert time.monotonic() < deadline, "no log line for the bad ACL file"
            time.sleep(0.2)
        assert shared in AdminClient(bob).list_topics(timeout=TIMEOUT).topics
        assert sasl_serve.proc.poll() is None
    finally:
        with open(sasl_serve.acl, "w") as f:
            f.write(ACL)
        sasl_serve.proc.send_signal(signal.SIGHUP)


def test_group_apis_are_checked_against_the_acls(sasl_serve, pki):
    """alice's group: bob (no group rule) neither lists, describes, finds nor deletes it."""
    from confluent_kafka import Consumer, TopicPartition

    alice = sasl_conf(sasl_serve, pki, "SCRAM-SHA-512")
    bob = sasl_conf(sasl_serve, pki, "SCRAM-SHA-512", user="bob")
    topic, group = topic_name("grouped"), topic_name("alice-team")
    ck_produce(RECORDS[:3], topic, **alice)
    consumer = Consumer({**alice, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        got, deadline = 0, time.monotonic() + TIMEOUT
        while got < 3:
            assert time.monotonic() < deadline, f"alice's group consumer read {got} of 3 records"
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                got += 1
        consumer.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
    finally:
        consumer.close()

    # Each admin client is kept in a name while its futures run: one collected early ends them.
    alice_admin, bob_admin = AdminClient(alice), AdminClient(bob)

    def listed(admin):
        result = admin.list_consumer_groups().result(timeout=TIMEOUT)
        assert not result.errors, result.errors
        return {g.group_id for g in result.valid}

    assert group in listed(alice_admin)
    assert group not in listed(bob_admin)
    described = alice_admin.describe_consumer_groups([group])[group].result(timeout=TIMEOUT)
    assert described.group_id == group
    for call in (bob_admin.describe_consumer_groups, bob_admin.delete_consumer_groups):
        with pytest.raises(KafkaException) as raised:
            call([group])[group].result(timeout=TIMEOUT)
        assert raised.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED, raised.value
    # Still there for alice, offset and all.
    assert group in listed(alice_admin)
    offsets = alice_admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)])[group].result(timeout=TIMEOUT)
    assert [(tp.topic, tp.partition, tp.offset) for tp in offsets.topic_partitions] == [(topic, 0, 3)]
