/* fuzz-lsd_msg.c: libFuzzer harness for the BEP 14 announce parser; what parses must rebuild and parse the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lsd_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static void
check_token(const char *s, size_t cap, int may_be_empty)
{
	size_t n = strnlen(s, cap);

	CHECK(n < cap);
	CHECK(may_be_empty || n > 0);
	for (size_t i = 0; i < n; i++)
		CHECK(s[i] > 0x20 && s[i] < 0x7f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lsd_msg m, back;
	char err[128];
	struct buf b;
	uint8_t *copy;
	int rc;

	/* An exact-size copy, so a read past the end is caught by ASan. */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	rc = lsd_msg_parse(copy, size, &m, err, sizeof(err));
	free(copy);
	if (rc == -1) {
		CHECK(m.n == 0 && m.port == 0 && !m.has_cookie);
		CHECK(err[0] != '\0');
		return 0;
	}
	CHECK(size <= LSD_MSG_MAX_LEN);
	CHECK(m.port != 0 && m.n >= 1 && m.n <= LSD_MSG_MAX_HASHES);
	for (size_t i = 0; i < m.n; i++)
		for (size_t j = i + 1; j < m.n; j++)
			CHECK(memcmp(m.hashes[i], m.hashes[j], 20) != 0);
	check_token(m.host, sizeof(m.host), 1);
	if (m.has_cookie)
		check_token(m.cookie, sizeof(m.cookie), 0);
	/*
	 * Rebuild in our own form. What was parsed may not fit when a long Host
	 * or cookie takes the room of hashes: then rebuild without them.
	 */
	buf_init(&b, 0);
	if (lsd_msg_build(&b, m.host[0] ? m.host : LSD_MSG_HOST4, m.port,
	    (const uint8_t (*)[20])m.hashes, m.n, m.has_cookie ? m.cookie : NULL) == -1) {
		CHECK(m.n > lsd_msg_max_hashes(m.host[0] ? m.host : LSD_MSG_HOST4,
		    m.has_cookie ? m.cookie : NULL));
		CHECK(lsd_msg_build(&b, LSD_MSG_HOST4, m.port, (const uint8_t (*)[20])m.hashes,
		    m.n, NULL) == 0);
		m.has_cookie = 0;
		strcpy(m.host, LSD_MSG_HOST4);
	}
	CHECK(b.len <= LSD_MSG_MAX_LEN);
	CHECK(lsd_msg_parse(b.data, b.len, &back, err, sizeof(err)) == 0);
	CHECK(back.port == m.port && back.n == m.n &&
	    memcmp(back.hashes, m.hashes, m.n * 20) == 0);
	CHECK(back.has_cookie == m.has_cookie &&
	    (!m.has_cookie || strcmp(back.cookie, m.cookie) == 0));
	CHECK(strcmp(back.host, m.host[0] ? m.host : LSD_MSG_HOST4) == 0);
	buf_free(&b);
	return 0;
}
