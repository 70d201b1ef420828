/* fuzz-search_msg.c: libFuzzer harness for the p2p_search codec and word normalisation; accepted messages must rebuild to the same meaning. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "search_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct search_msg m, back;	/* 14 KiB each: off the stack */

static void
check_equal(const struct search_msg *a, const struct search_msg *b)
{
	if (a->type != b->type || a->id != b->id || strcmp(a->query, b->query) != 0 ||
	    a->nresults != b->nresults)
		abort();
	for (size_t i = 0; i < a->nresults; i++) {
		const struct search_result *x = &a->results[i], *y = &b->results[i];

		if (memcmp(x->info_hash, y->info_hash, 20) != 0 ||
		    strcmp(x->name, y->name) != 0 || x->size != y->size ||
		    x->files != y->files)
			abort();
	}
}

static void
fuzz_parse(const uint8_t *data, size_t size)
{
	char err[160], norm[SEARCH_MAX_QUERY + 1];
	struct buf b;
	int n;

	err[0] = '\0';
	if (search_msg_parse(data, size, &m, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || m.type != 0 || m.nresults != 0)
			abort();	/* every refusal names its reason and clears m */
		return;
	}
	buf_init(&b, 0);
	if (m.type == SEARCH_MSG_QUERY) {
		/* The query is already normalised: normalising again is a no-op. */
		n = search_normalise(m.query, SEARCH_MAX_WORDS + 1, norm, sizeof(norm));
		if (n < 1 || n > SEARCH_MAX_WORDS || strcmp(norm, m.query) != 0 ||
		    m.nresults != 0)
			abort();
		if (search_msg_build_query(&b, m.id, m.query) == -1)
			abort();
	} else if (m.type == SEARCH_MSG_RESULTS) {
		if (m.nresults > SEARCH_MAX_RESULTS || m.query[0] != '\0')
			abort();
		for (size_t i = 0; i < m.nresults; i++)
			if (m.results[i].files < 1 || m.results[i].files > SEARCH_MAX_FILES ||
			    m.results[i].name[0] == '\0')
				abort();
		/* Anything that parsed was at most SEARCH_MSG_MAX, so all of it fits again. */
		if (search_msg_build_results(&b, m.id, m.results, m.nresults) !=
		    (int)m.nresults)
			abort();
	} else
		abort();
	if (b.len > SEARCH_MSG_MAX ||
	    search_msg_parse(b.data, b.len, &back, err, sizeof(err)) == -1)
		abort();
	check_equal(&m, &back);
	buf_free(&b);
}

/* The input as text: words, keywords, matching and sanitising must agree with each other. */
static void
fuzz_text(const uint8_t *data, size_t size)
{
	char text[1024], norm[1024], again[1024], name[SEARCH_MAX_NAME + 1];
	char words[16][SEARCH_WORD_MAX + 1], kw[SEARCH_MAX_KEYWORDS][SEARCH_WORD_MAX + 1];
	size_t len = size < sizeof(text) - 1 ? size : sizeof(text) - 1, nw, nk;
	int n;

	memcpy(text, data, len);
	text[len] = '\0';
	nw = search_words(text, words, 16);
	n = search_normalise(text, 16, norm, sizeof(norm));
	if (n != (int)nw || strlen(norm) > strlen(text))
		abort();
	for (size_t i = 0; i < nw; i++)
		if (words[i][0] == '\0' || strlen(words[i]) > SEARCH_WORD_MAX)
			abort();
	if (search_normalise(norm, 16, again, sizeof(again)) != n ||
	    strcmp(norm, again) != 0)
		abort();
	nk = search_name_keywords(text, kw, SEARCH_MAX_KEYWORDS);
	for (size_t i = 0; i < nk; i++) {
		if (!search_word_distinctive(kw[i]))
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(kw[i], kw[j]) == 0)
				abort();
	}
	/* A name always matches its own first words, exactly when they are all of it. */
	if (nw >= 1 && nw <= SEARCH_MAX_WORDS) {
		if (!search_name_matches(text, norm) || search_match_quality(text, norm) != 2)
			abort();
	}
	if (nw == 0 && search_name_matches(text, norm))
		abort();
	if (search_name_sanitize(name, sizeof(name), text) == 0) {
		struct search_result r;
		struct buf b;

		memset(&r, 0, sizeof(r));
		memcpy(r.name, name, sizeof(name));
		r.files = 1;
		buf_init(&b, 0);
		if (search_msg_build_results(&b, 7, &r, 1) != 1 ||
		    search_msg_parse(b.data, b.len, &back, NULL, 0) == -1 ||
		    strcmp(back.results[0].name, name) != 0)
			abort();
		buf_free(&b);
	} else if (len > 0 && text[0] != '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_parse(data, size);
	fuzz_text(data, size);
	return 0;
}
