/* search_msg.h: network search (issue 5): the p2p_search BEP 10 message codec and the word normalisation shared by index, DHT keys and answer filter. */
#ifndef P2P_SEARCH_MSG_H
#define P2P_SEARCH_MSG_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * Pure code: no I/O, no globals, no allocation but struct buf growth and the
 * bencode decoder's token array. Parsers return 0, or -1 with a reason in err
 * (err may be NULL); builders append to a struct buf and leave it unchanged
 * when they fail. Every loop is bounded by its input's length.
 */

#define SEARCH_MSG_MAX 16384      /* largest p2p_search message (bencoded payload of the BEP 10 message) */
#define SEARCH_MAX_RESULTS 50     /* results in one answer */
#define SEARCH_MAX_WORDS 8        /* words in one query */
#define SEARCH_MAX_QUERY 256      /* bytes of a query string */
#define SEARCH_MAX_NAME 255       /* bytes of a result name (UTF-8, cut at a character boundary) */
#define SEARCH_WORD_MAX 64        /* bytes of one normalised word */
/* Issue 5: a torrent announces at most 8 words on the DHT. */
#define SEARCH_MAX_KEYWORDS 8
/* Largest file count a result may claim (a sanity bound, not a protocol need). */
#define SEARCH_MAX_FILES 1000000u
/* The DHT key of a word is SHA-1 of this prefix followed by the word. */
#define SEARCH_KEY_PREFIX "p2pd-search-v1:"

enum search_msg_type { SEARCH_MSG_QUERY = 1, SEARCH_MSG_RESULTS = 2 };

struct search_result {
	uint8_t info_hash[20];
	char name[SEARCH_MAX_NAME + 1];
	uint64_t size;       /* total bytes (at most INT64_MAX: bencode integers are signed) */
	uint32_t files;      /* file count, 1..SEARCH_MAX_FILES */
};

struct search_msg {
	enum search_msg_type type;
	uint32_t id;                        /* "t": the query's id, echoed in its answer */
	char query[SEARCH_MAX_QUERY + 1];   /* "q" (queries): normalised words separated by one space */
	struct search_result results[SEARCH_MAX_RESULTS];   /* "r" (answers) */
	size_t nresults;
};

/*
 * Parses one p2p_search payload: query {"q": str, "t": int} or answer
 * {"r": [{"f": int, "h": 20 bytes, "l": int, "n": str}, ...], "t": int}.
 * -1 with a reason in err for anything else: over SEARCH_MSG_MAX, not a dict,
 * both or neither of q/r, t missing/negative/> UINT32_MAX, q empty or over
 * SEARCH_MAX_QUERY or with more than SEARCH_MAX_WORDS words (or none after
 * normalisation) or not valid UTF-8/with control chars, more than
 * SEARCH_MAX_RESULTS results, a result missing a key, h not 20 bytes, l
 * negative, f < 1 or > 10^6, n empty/too long/invalid UTF-8/control
 * characters (NUL included; '/' is fine), duplicate info-hashes within one
 * answer. An answer with an empty "r" list is valid (nothing matched). The
 * query is returned normalised (see search_words). Unknown keys are ignored.
 * On failure *m is zeroed.
 */
int search_msg_parse(const uint8_t *p, size_t len, struct search_msg *m, char *err, size_t errlen);
/* Appends a query (q normalised first; -1 if it has no word left or too many, or the normalised query is over SEARCH_MAX_QUERY). */
int search_msg_build_query(struct buf *b, uint32_t id, const char *q);
/*
 * Appends an answer with as many of r[0..n) as fit in SEARCH_MSG_MAX (in
 * order, at most SEARCH_MAX_RESULTS); returns how many went in, or -1 (b
 * unchanged) if one of the first SEARCH_MAX_RESULTS is one the parser would
 * refuse (bad name, files or size, duplicate info-hash; clean names with
 * search_name_sanitize first) or the buffer refused to grow.
 */
int search_msg_build_results(struct buf *b, uint32_t id, const struct search_result *r, size_t n);
/* The same with a smaller cap on the message (maxlen over SEARCH_MSG_MAX counts as SEARCH_MSG_MAX); -1 also if not even an empty answer fits. */
int search_msg_build_results_max(struct buf *b, uint32_t id, const struct search_result *r,
    size_t n, size_t maxlen);

/*
 * Splits UTF-8 text into normalised words: case folded (ASCII, Latin-1,
 * Latin Extended-A, basic Greek and Cyrillic), accents removed (é->e,
 * ß->ss, ø->o, æ->ae, œ->oe, þ->th, ł->l; combining marks U+0300..U+036F are
 * dropped inside a word), split on anything that is not a letter or digit
 * (ASCII punctuation and controls, U+0080..U+00BF, × ÷, general and CJK
 * punctuation, symbols, arrows, box drawing, emoji, fullwidth punctuation),
 * so "Big.Buck_Bunny-1080p.mkv" -> big buck bunny 1080p mkv. Other scripts'
 * letters are kept as they are. Words longer than SEARCH_WORD_MAX bytes are
 * cut at a character boundary (the rest of the word is dropped); at most max
 * words; duplicates kept in order. Returns the count. Invalid UTF-8 bytes are
 * separators. Normalising normalised text changes nothing.
 */
size_t search_words(const char *text, char words[][SEARCH_WORD_MAX + 1], size_t max);
/*
 * search_words joined with single spaces into out (NUL-terminated); returns
 * the word count (at most max), or -1 if out is too small. The normalised
 * text is never longer than text itself.
 */
int search_normalise(const char *text, size_t max, char *out, size_t outlen);
/*
 * 1 if a normalised word is worth announcing on the DHT: at least 3
 * characters (UTF-8 characters, not bytes), not all digits, not a stop word
 * (short English list plus release noise: the, and, for, www, com, 1080p,
 * x264, bluray, webrip ...), not a file extension (mkv, mp4, iso, zip, pdf
 * ...), and not a release tag pattern: resolution "\d+p", season/episode
 * "s\d+", "e\d+", "s\d+e\d+", "\d+x\d+", bit depth "\d+bit", a codec with a
 * number (aac2, ddp5, dts6, h266, x10, dvd9, mp2, hdr10). Expects a
 * normalised (lower-case) word.
 */
int search_word_distinctive(const char *word);
/* The distinctive words of a torrent name to announce (issue 5: at most 8 per torrent), deduplicated, longest first (in characters; ties: first seen), at most max. Returns the count. */
size_t search_name_keywords(const char *name, char words[][SEARCH_WORD_MAX + 1], size_t max);
/* The DHT key of a normalised word: SHA-1 of "p2pd-search-v1:" followed by the word. */
void search_word_key(const char *word, uint8_t key[20]);
/* 1 if every word of the normalised query is a prefix of some word of name (after search_words on name), else 0: the filter an answering peer applies (like eMule's Kad, the DHT only narrows to one word). An empty query matches nothing. */
int search_name_matches(const char *name, const char *query);
/* Ranking used to sort merged results: 2 if name's words equal the query's words exactly in order, 1 if every query word equals a whole word of the name, 0 if only prefix matches (or no match at all: check search_name_matches first). */
int search_match_quality(const char *name, const char *query);
/*
 * Makes a valid result name from a torrent name: invalid UTF-8 bytes become
 * '?', control characters a space, cut at a character boundary to fit
 * SEARCH_MAX_NAME bytes and dstlen - 1. 0, or -1 if the name is empty
 * (dst is then "").
 */
int search_name_sanitize(char *dst, size_t dstlen, const char *src);

#endif
