/* fuzz-krpc.c: libFuzzer harness for the KRPC codec; accepted messages must rebuild and parse back the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "krpc.h"
#include "netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parsed and rebuilt messages are ~20 KiB; keep them off the stack. */
static struct krpc_msg first, second;

static void
check_printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] >= 0x7f)
			abort();
}

static void
check_family(const struct netaddr *a, int want)
{
	int f = netaddr_family(a);

	if (want != 0 ? f != want : (f != AF_INET && f != AF_INET6))
		abort();
}

/* What krpc.h promises of every accepted message. */
static void
check_invariants(const struct krpc_msg *m)
{
	if (m->type < KRPC_QUERY || m->type > KRPC_ERROR)
		abort();
	if (m->tid_len < 1 || m->tid_len > KRPC_MAX_TID || m->version_len > KRPC_MAX_VERSION)
		abort();
	if (m->token_len > KRPC_MAX_TOKEN || m->nnodes > KRPC_MAX_NODES ||
	    m->nnodes6 > KRPC_MAX_NODES || m->nvalues > KRPC_MAX_VALUES)
		abort();
	if (m->has & KRPC_HAS_IP)
		check_family(&m->ip, 0);
	for (size_t i = 0; i < m->nnodes; i++)
		check_family(&m->nodes[i].addr, AF_INET);
	for (size_t i = 0; i < m->nnodes6; i++)
		check_family(&m->nodes6[i].addr, AF_INET6);
	for (size_t i = 0; i < m->nvalues; i++)
		check_family(&m->values[i], 0);
	check_printable(m->method_name, sizeof(m->method_name));
	check_printable(m->message, sizeof(m->message));
	switch (m->type) {
	case KRPC_QUERY:
		if (m->method == KRPC_METHOD_NONE || m->method_name[0] == '\0')
			abort();
		if (m->method != KRPC_METHOD_UNKNOWN && !(m->has & KRPC_HAS_ID))
			abort();
		if (m->method == KRPC_ANNOUNCE_PEER &&
		    (m->token_len == 0 || (m->port == 0 && !m->implied_port)))
			abort();
		break;
	case KRPC_RESPONSE:
		if (m->method != KRPC_METHOD_NONE || !(m->has & KRPC_HAS_ID))
			abort();
		break;
	default:
		if (m->code < 0)
			abort();
		break;
	}
}

static void
fuzz_message(const uint8_t *data, size_t size)
{
	struct buf b, again;
	char err[256];

	if (krpc_parse(data, size, &first, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || strnlen(err, sizeof(err)) == sizeof(err))
			abort();
		/* A refused message keeps at most its envelope, which must be sane. */
		if (first.tid_len > KRPC_MAX_TID)
			abort();
		return;
	}
	check_invariants(&first);
	buf_init(&b, 0);
	if (krpc_build(&b, &first) == -1) {
		/* Only queries we would answer with 204 have no builder. */
		if (first.type != KRPC_QUERY || first.method != KRPC_METHOD_UNKNOWN)
			abort();
		buf_free(&b);
		return;
	}
	if (first.method == KRPC_METHOD_UNKNOWN || b.len > KRPC_MAX_MSG)
		abort();
	/* Rebuilt, it parses to the same message, and builds to the same bytes. */
	if (krpc_parse(b.data, b.len, &second, err, sizeof(err)) == -1)
		abort();
	if (memcmp(&first, &second, sizeof(first)) != 0)
		abort();
	buf_init(&again, 0);
	if (krpc_build(&again, &second) == -1 || again.len != b.len ||
	    memcmp(again.data, b.data, b.len) != 0)
		abort();
	buf_free(&again);
	buf_free(&b);
}

/* Node info and the XOR metric over raw bytes of the input. */
static void
fuzz_ids(const uint8_t *data, size_t size)
{
	uint8_t t[KRPC_ID_LEN] = { 0 }, a[KRPC_ID_LEN] = { 0 }, c[KRPC_ID_LEN] = { 0 };
	uint8_t out[KRPC_NODE6_LEN];
	struct krpc_node n;
	int ab, ba, p;

	if (size >= KRPC_NODE4_LEN) {
		size_t len = size >= KRPC_NODE6_LEN ? KRPC_NODE6_LEN : KRPC_NODE4_LEN;

		if (krpc_node_decode(&n, data, len) == -1 ||
		    krpc_node_encode(&n, out, sizeof(out)) != (int)len ||
		    memcmp(out, data, len) != 0)
			abort();
	}
	memcpy(t, data, size < 20 ? size : 20);
	if (size > 20)
		memcpy(a, data + 20, size - 20 < 20 ? size - 20 : 20);
	if (size > 40)
		memcpy(c, data + 40, size - 40 < 20 ? size - 40 : 20);
	ab = krpc_id_closer(t, a, c);
	ba = krpc_id_closer(t, c, a);
	if ((ab < 0) != (ba > 0) || (ab == 0) != (memcmp(a, c, KRPC_ID_LEN) == 0))
		abort();
	p = krpc_id_prefix_len(a, c);
	if (p < 0 || p > 160 || (p == 160) != (memcmp(a, c, KRPC_ID_LEN) == 0) ||
	    p != krpc_id_prefix_len(c, a))
		abort();
	/* Sharing more leading bits with the target means being closer. */
	if (krpc_id_prefix_len(t, a) > krpc_id_prefix_len(t, c) && ab >= 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_message(data, size);
	fuzz_ids(data, size);
	return 0;
}
