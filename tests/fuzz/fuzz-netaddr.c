/* fuzz-netaddr.c: libFuzzer harness for address parsing and the compact forms. */
#include "netaddr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A parsed address prints as text that parses back to the same address. */
static void
check_text(const struct netaddr *a)
{
	char s[NETADDR_STRLEN], err[128];
	struct netaddr b;

	netaddr_format(a, s, sizeof(s));
	if (netaddr_parse(s, &b, err, sizeof(err)) == -1) {
		fprintf(stderr, "'%s' refused: %s\n", s, err);
		abort();
	}
	if (!netaddr_equal(a, &b) || !netaddr_same_ip(a, &b) ||
	    netaddr_is_loopback(a) != netaddr_is_loopback(&b))
		abort();
}

/* Compact bytes survive a trip through struct netaddr unchanged. */
static void
check_compact(const struct netaddr *a)
{
	uint8_t c1[18], c2[18];
	struct netaddr b;
	int n;

	if ((n = netaddr_to_compact(a, c1, sizeof(c1))) == -1)
		abort();
	if (netaddr_from_compact(&b, c1, (size_t)n) == -1 ||
	    netaddr_to_compact(&b, c2, sizeof(c2)) != n ||
	    memcmp(c1, c2, (size_t)n) != 0 ||
	    netaddr_port(&b) != netaddr_port(a))
		abort();
	check_text(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netaddr a;
	char err[128];
	char *s;

	if (netaddr_from_compact(&a, data, size) == 0)
		check_compact(&a);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (netaddr_parse(s, &a, err, sizeof(err)) == 0) {
		check_text(&a);
		check_compact(&a);
		netaddr_set_port(&a, (uint16_t)size);
		if (netaddr_port(&a) != (uint16_t)size)
			abort();
	} else if (strlen(err) == 0) {
		abort();
	}
	free(s);
	return 0;
}
