/* fuzz-conf.c: libFuzzer harness for the config parser: no crash, and print/parse round-trips. */
#include "conf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
printed(const struct conf *c)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	if (f == NULL)
		abort();
	conf_print(c, f);
	fclose(f);
	return s;
}

/* Whatever parsed must print as a config that parses back to the same. */
static void
check_round_trip(const struct conf *c)
{
	struct conf d;
	char err[512];
	char *a = printed(c), *b;

	conf_defaults(&d);
	if (conf_parse(&d, a, strlen(a), err, sizeof(err)) == -1) {
		fprintf(stderr, "printed config refused: %s\n%s", err, a);
		abort();
	}
	b = printed(&d);
	if (strcmp(a, b) != 0) {
		fprintf(stderr, "round trip differs:\n%s---\n%s", a, b);
		abort();
	}
	free(a);
	free(b);
	conf_free(&d);
}

/* "key=value" through conf_set, the command-line path. */
static void
try_set(const uint8_t *data, size_t size)
{
	struct conf c;
	char err[256];
	char *s, *eq;

	if ((s = malloc(size + 1)) == NULL)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if ((eq = strchr(s, '=')) != NULL && strchr(s, '\n') == NULL) {
		*eq = '\0';
		conf_defaults(&c);
		if (conf_set(&c, s, eq + 1, err, sizeof(err)) == 0)
			check_round_trip(&c);
		conf_clear(&c, s, err, sizeof(err));
		conf_free(&c);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c, copy;
	char err[512];

	/* Fixed paths, so runs do not depend on who fuzzes where. */
	setenv("STATE_DIRECTORY", "/var/lib/p2pd-fuzz", 1);
	setenv("RUNTIME_DIRECTORY", "/run/p2pd-fuzz", 1);
	conf_defaults(&c);
	if (conf_parse(&c, (const char *)data, size, err, sizeof(err)) == 0) {
		check_round_trip(&c);
		if (conf_copy(&copy, &c) == 0)
			conf_free(&copy);
	} else if (strlen(err) == 0) {
		abort();	/* every refusal says why */
	}
	conf_free(&c);
	try_set(data, size);
	return 0;
}
