/* search_msg.c: network search (issue 5): p2p_search message parse/build, word normalisation, DHT keyword choice and the answer filter. */
#include "search_msg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bencode.h"
#include "buf.h"
#include "log.h"
#include "sha.h"

#define sm_fail(err, errlen, ...) log_seterr(err, errlen, "p2p_search", __VA_ARGS__)

/*
 * An answer is a dict holding a list of 50 dicts of 4 keys: 1 + 1 + 50 * 9 +
 * the "t" pair = 455 tokens. Unknown keys may ride along (BEP 10 extensions
 * grow), so allow about twice that; depth 4 leaves one level of nesting
 * inside a result for them. Both bound the decoder's work on a hostile message.
 */
static const struct be_limits search_limits = { 4, 1024 };

/* UTF-8. */

/*
 * Decodes one character of p[0..left) (left >= 1) strictly (RFC 3629: no
 * overlong forms, surrogates or code points past U+10FFFF): its code point,
 * or -1 for an invalid byte. *n gets the bytes used, 1 when invalid, so an
 * invalid byte is skipped alone and what follows is read again.
 */
static int32_t
utf8_decode(const uint8_t *p, size_t left, size_t *n)
{
	uint8_t c = p[0];
	uint32_t cp, min;
	size_t len;

	*n = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
		min = 0x10000;
	} else
		return -1;
	if (len > left)
		return -1;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*n = len;
	return (int32_t)cp;
}

static size_t
utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* C0, DEL and C1: never part of a query or a name shown to a user. */
static int
is_control(int32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Checks a wire string is valid UTF-8 without control characters (NUL included). */
static int
text_check(const uint8_t *s, size_t len, const char *what, char *err, size_t errlen)
{
	size_t i = 0, n;

	while (i < len) {
		int32_t cp = utf8_decode(s + i, len - i, &n);

		if (cp < 0)
			return sm_fail(err, errlen, "%s: invalid UTF-8 at byte %zu", what, i);
		if (is_control(cp))
			return sm_fail(err, errlen, "%s: control character at byte %zu", what, i);
		i += n;
	}
	return 0;
}

/* Characters, not bytes, of valid UTF-8: continuation bytes do not count. */
static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((uint8_t)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Normalisation. */

enum ch_class { CH_SEP, CH_MARK, CH_WORD };

/*
 * Latin-1 and Latin Extended-A letters to their base letters, lower case.
 * FTS5's unicode61 (remove_diacritics 2) strips what Unicode decomposes
 * into letter + mark (é, ñ, ő); we also fold the letters that have no
 * decomposition (ß, æ, ø, œ, þ, ł, đ, ħ), so "Straße" finds "strasse" and
 * "Bjørn" finds "bjorn", as a user typing ASCII expects. to == NULL: not a
 * letter (× and ÷).
 */
struct latin_fold {
	uint16_t lo, hi;
	const char *to;
};

static const struct latin_fold latin_folds[] = {
	{ 0xc0, 0xc5, "a" }, { 0xc6, 0xc6, "ae" }, { 0xc7, 0xc7, "c" },
	{ 0xc8, 0xcb, "e" }, { 0xcc, 0xcf, "i" }, { 0xd0, 0xd0, "d" },
	{ 0xd1, 0xd1, "n" }, { 0xd2, 0xd6, "o" }, { 0xd7, 0xd7, NULL },
	{ 0xd8, 0xd8, "o" }, { 0xd9, 0xdc, "u" }, { 0xdd, 0xdd, "y" },
	{ 0xde, 0xde, "th" }, { 0xdf, 0xdf, "ss" },
	{ 0xe0, 0xe5, "a" }, { 0xe6, 0xe6, "ae" }, { 0xe7, 0xe7, "c" },
	{ 0xe8, 0xeb, "e" }, { 0xec, 0xef, "i" }, { 0xf0, 0xf0, "d" },
	{ 0xf1, 0xf1, "n" }, { 0xf2, 0xf6, "o" }, { 0xf7, 0xf7, NULL },
	{ 0xf8, 0xf8, "o" }, { 0xf9, 0xfc, "u" }, { 0xfd, 0xfd, "y" },
	{ 0xfe, 0xfe, "th" }, { 0xff, 0xff, "y" },
	{ 0x100, 0x105, "a" }, { 0x106, 0x10d, "c" }, { 0x10e, 0x111, "d" },
	{ 0x112, 0x11b, "e" }, { 0x11c, 0x123, "g" }, { 0x124, 0x127, "h" },
	{ 0x128, 0x131, "i" }, { 0x132, 0x133, "ij" }, { 0x134, 0x135, "j" },
	{ 0x136, 0x138, "k" }, { 0x139, 0x142, "l" }, { 0x143, 0x14b, "n" },
	{ 0x14c, 0x151, "o" }, { 0x152, 0x153, "oe" }, { 0x154, 0x159, "r" },
	{ 0x15a, 0x161, "s" }, { 0x162, 0x167, "t" }, { 0x168, 0x173, "u" },
	{ 0x174, 0x175, "w" }, { 0x176, 0x178, "y" }, { 0x179, 0x17e, "z" },
	{ 0x17f, 0x17f, "s" },
};

struct cp_range {
	uint32_t lo, hi;
};

/*
 * Past Latin Extended-A, a full Unicode category table would be 20 KB for
 * little gain: other scripts' letters are kept as they are, and only these
 * blocks of punctuation, symbols and spaces separate words (what unicode61
 * calls separators for the same text: categories P*, S*, Z*).
 */
static const struct cp_range seps[] = {
	{ 0x80, 0xbf },		/* C1 controls, NBSP, Latin-1 punctuation */
	{ 0x2b0, 0x2ff },	/* spacing modifiers (ˆ ˜ ˝) */
	{ 0x37e, 0x37e }, { 0x387, 0x387 },	/* Greek question mark, ano teleia */
	{ 0x2000, 0x206f },	/* general punctuation, odd spaces, zero-width */
	{ 0x20a0, 0x20cf },	/* currency */
	{ 0x2100, 0x214f },	/* letterlike symbols (™ ℃) */
	{ 0x2190, 0x2bff },	/* arrows, maths, technical, box drawing, dingbats */
	{ 0x2e00, 0x2e7f },	/* supplemental punctuation */
	{ 0x3000, 0x3004 }, { 0x3008, 0x3020 }, { 0x3030, 0x3030 },	/* CJK punctuation */
	{ 0xfe10, 0xfe1f }, { 0xfe30, 0xfe6f },	/* vertical, compatibility, small forms */
	{ 0xfeff, 0xfeff },	/* BOM */
	{ 0xff00, 0xff0f }, { 0xff1a, 0xff20 }, { 0xff3b, 0xff40 }, { 0xff5b, 0xff65 },
	{ 0xfff0, 0xffff },	/* specials, U+FFFD */
	{ 0x1f000, 0x1faff },	/* mahjong, cards, emoji, pictographs */
	{ 0xe0000, 0xe007f },	/* tags */
};

/* Combining marks: dropped without splitting the word, so NFD "e\u0301" is "e". */
static const struct cp_range marks[] = {
	{ 0x300, 0x36f }, { 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff }, { 0x20d0, 0x20ff },
	{ 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f },
};

static int
in_ranges(const struct cp_range *r, size_t n, uint32_t cp)
{
	for (size_t i = 0; i < n; i++)
		if (cp >= r[i].lo && cp <= r[i].hi)
			return 1;
	return 0;
}

/* Simple case folding for the other scripts whose upper case is one offset away. */
static uint32_t
fold_greek_cyrillic(uint32_t cp)
{
	if (cp >= 0x391 && cp <= 0x3ab && cp != 0x3a2)
		return cp + 0x20;	/* Α..Ϋ -> α..ϋ */
	if (cp == 0x3c2)
		return 0x3c3;		/* final sigma folds to σ */
	if (cp >= 0x410 && cp <= 0x42f)
		return cp + 0x20;	/* А..Я -> а..я */
	if (cp >= 0x400 && cp <= 0x40f)
		return cp + 0x50;	/* Ѐ..Џ -> ѐ..џ */
	return cp;
}

/* Classifies code point cp (-1: an invalid byte); a letter's normalised bytes go to out. */
static enum ch_class
ch_fold(int32_t cp, char out[4], size_t *outlen)
{
	*outlen = 0;
	if (cp < 0)
		return CH_SEP;
	if (cp < 0x80) {
		if (cp >= 'A' && cp <= 'Z') {
			out[0] = (char)(cp - 'A' + 'a');
		} else if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
			out[0] = (char)cp;
		} else
			return CH_SEP;
		*outlen = 1;
		return CH_WORD;
	}
	if (cp >= 0xc0 && cp <= 0x17f) {
		for (size_t i = 0; i < sizeof(latin_folds) / sizeof(latin_folds[0]); i++) {
			const struct latin_fold *f = &latin_folds[i];

			if ((uint32_t)cp < f->lo || (uint32_t)cp > f->hi)
				continue;
			if (f->to == NULL)
				return CH_SEP;
			*outlen = strlen(f->to);
			memcpy(out, f->to, *outlen);
			return CH_WORD;
		}
	}
	if (in_ranges(marks, sizeof(marks) / sizeof(marks[0]), (uint32_t)cp))
		return CH_MARK;
	if (in_ranges(seps, sizeof(seps) / sizeof(seps[0]), (uint32_t)cp))
		return CH_SEP;
	*outlen = utf8_encode(fold_greek_cyrillic((uint32_t)cp), out);
	return CH_WORD;
}

/* Walks the words of a text; each step consumes at least one byte. */
struct sw_iter {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static void
sw_init(struct sw_iter *it, const char *text)
{
	it->p = (const uint8_t *)text;
	it->len = text != NULL ? strlen(text) : 0;
	it->pos = 0;
}

/* The next normalised word into w; its length in bytes, 0 once the text is used up. */
static size_t
sw_next(struct sw_iter *it, char w[SEARCH_WORD_MAX + 1])
{
	size_t wl = 0;
	int cut = 0;

	while (it->pos < it->len) {
		char o[4];
		size_t n, ol;
		enum ch_class c = ch_fold(utf8_decode(it->p + it->pos, it->len - it->pos,
		    &n), o, &ol);

		it->pos += n;
		if (c == CH_MARK)
			continue;
		if (c == CH_SEP) {
			if (wl > 0)
				break;
			continue;
		}
		/* Too long: keep the head, cut at a character, drop the rest of the word. */
		if (cut || wl + ol > SEARCH_WORD_MAX) {
			cut = 1;
			continue;
		}
		memcpy(w + wl, o, ol);
		wl += ol;
	}
	w[wl] = '\0';
	return wl;
}

size_t
search_words(const char *text, char words[][SEARCH_WORD_MAX + 1], size_t max)
{
	struct sw_iter it;
	size_t n = 0;

	sw_init(&it, text);
	while (n < max && sw_next(&it, words[n]) > 0)
		n++;
	return n;
}

int
search_normalise(const char *text, size_t max, char *out, size_t outlen)
{
	char w[SEARCH_WORD_MAX + 1];
	struct sw_iter it;
	size_t n = 0, o = 0, wl;

	if (outlen == 0)
		return -1;
	sw_init(&it, text);
	while (n < max && (wl = sw_next(&it, w)) > 0) {
		if (o + (n > 0) + wl + 1 > outlen) {
			out[0] = '\0';
			return -1;
		}
		if (n > 0)
			out[o++] = ' ';
		memcpy(out + o, w, wl);
		o += wl;
		n++;
	}
	out[o] = '\0';
	return (int)n;
}

/* Distinctive words. */

/*
 * Words too common to announce: a DHT node that stores "the" would hold half
 * the network's names (the overload the DHT's maintainers warn of). English
 * function words, then release tags and site names.
 */
static const char *const stop_words[] = {
	"the", "and", "for", "with", "from", "this", "that", "you", "are", "was",
	"were", "not", "but", "all", "any", "can", "has", "have", "had", "her",
	"his", "him", "its", "our", "out", "she", "they", "them", "their", "there",
	"then", "than", "what", "when", "who", "will", "into", "about", "your",
	"how", "why", "where", "which", "www", "com", "org", "net", "info",
	"480p", "576p", "720p", "1080p", "1080i", "2160p", "4320p", "uhd", "hdr",
	"hdr10", "sdr", "x264", "x265", "h264", "h265", "hevc", "avc", "xvid",
	"divx", "web", "webrip", "webdl", "bluray", "bdrip", "brrip", "bdremux",
	"remux", "hdtv", "pdtv", "hdrip", "dvdrip", "dvdscr", "dvd", "dvd5", "dvd9",
	"hdcam", "camrip", "rip", "aac", "ac3", "eac3", "dts", "ddp", "ddp5",
	"truehd", "atmos", "10bit", "8bit", "proper", "repack", "internal",
	"limited", "extended", "unrated", "remastered", "multi", "subs", "dubbed",
	"eng", "english", "yify", "yts", "rarbg", "ettv", "eztv", "torrent",
	"sample", "amzn", "dsnp", "hmax", "atvp", "cbr", "vbr", "kbps", "320kbps",
};

/* Extensions say what kind of file, not which one. */
static const char *const extensions[] = {
	"mkv", "mp4", "avi", "mov", "wmv", "flv", "webm", "m4v", "mpg", "mpeg",
	"m2ts", "vob", "mp3", "flac", "ogg", "oga", "opus", "wav", "m4a", "m4b",
	"wma", "ape", "alac", "iso", "img", "zip", "rar", "tar", "tgz", "bz2",
	"txz", "zst", "txt", "nfo", "srt", "sub", "idx", "ass", "ssa", "vtt",
	"pdf", "epub", "mobi", "azw", "azw3", "djvu", "cbz", "doc", "docx",
	"odt", "rtf", "jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff",
	"svg", "exe", "msi", "dmg", "apk", "deb", "rpm", "bin", "cue", "sfv",
	"md5", "sha1", "sha256", "nzb", "par2", "log", "htm", "html", "url",
};

static int
in_list(const char *const *list, size_t n, const char *w)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], w) == 0)
			return 1;
	return 0;
}

/* Skips ASCII digits at w[*i]; how many. */
static size_t
skip_digits(const char *w, size_t *i)
{
	size_t n = 0;

	while (w[*i] >= '0' && w[*i] <= '9') {
		(*i)++;
		n++;
	}
	return n;
}

/* Codec and format names that come with a number: aac2, ddp5, h264, x265, dvd9, mp3. */
static const char *const tag_stems[] = {
	"aac", "ac", "dd", "ddp", "dts", "eac", "flac", "opus", "hdr", "dvd", "mp",
	"h", "x",
};

/*
 * Tags that come in endless numbered variants no list can hold: s01, e05,
 * s01e05, 1x05, 1440p, 12bit, aac2. Millions of names share each.
 */
static int
release_tag(const char *w)
{
	char stem[8];
	size_t i = 0, len = strlen(w), k = len;

	/* A stem from tag_stems followed by digits only. */
	while (k > 0 && w[k - 1] >= '0' && w[k - 1] <= '9')
		k--;
	if (k > 0 && k < len && k < sizeof(stem)) {
		memcpy(stem, w, k);
		stem[k] = '\0';
		if (in_list(tag_stems, sizeof(tag_stems) / sizeof(tag_stems[0]), stem))
			return 1;
	}

	if (w[0] == 's') {
		i = 1;
		if (skip_digits(w, &i) == 0)
			return 0;
		if (w[i] == '\0')
			return 1;
		if (w[i++] != 'e')
			return 0;
		return skip_digits(w, &i) > 0 && w[i] == '\0';
	}
	if (w[0] == 'e') {
		i = 1;
		return skip_digits(w, &i) > 0 && w[i] == '\0';
	}
	if (skip_digits(w, &i) == 0)
		return 0;
	if (strcmp(w + i, "p") == 0 || strcmp(w + i, "bit") == 0)
		return 1;
	if (w[i++] != 'x')
		return 0;
	return skip_digits(w, &i) > 0 && w[i] == '\0';
}

int
search_word_distinctive(const char *word)
{
	size_t i = 0;

	if (word == NULL || utf8_chars(word) < 3)
		return 0;
	if (skip_digits(word, &i) > 0 && word[i] == '\0')
		return 0;	/* years, track numbers, sizes */
	if (in_list(stop_words, sizeof(stop_words) / sizeof(stop_words[0]), word) ||
	    in_list(extensions, sizeof(extensions) / sizeof(extensions[0]), word))
		return 0;
	return !release_tag(word);
}

size_t
search_name_keywords(const char *name, char words[][SEARCH_WORD_MAX + 1], size_t max)
{
	char w[SEARCH_WORD_MAX + 1];
	struct sw_iter it;
	size_t n = 0;

	sw_init(&it, name);
	/*
	 * Keeps the best max so far, longest first. A word evicted earlier ranks
	 * above its own later copies (same length, seen first), so a copy can
	 * never come back in: checking duplicates among the kept is enough.
	 */
	while (max > 0 && sw_next(&it, w) > 0) {
		size_t len, pos, dup = 0;

		if (!search_word_distinctive(w))
			continue;
		for (size_t i = 0; i < n && !dup; i++)
			dup = strcmp(words[i], w) == 0;
		if (dup)
			continue;
		len = utf8_chars(w);
		for (pos = 0; pos < n && utf8_chars(words[pos]) >= len; pos++)
			;
		if (pos >= max)
			continue;
		if (n < max)
			n++;
		memmove(words[pos + 1], words[pos], (n - 1 - pos) * sizeof(words[0]));
		memcpy(words[pos], w, sizeof(w));
	}
	return n;
}

void
search_word_key(const char *word, uint8_t key[20])
{
	char in[sizeof(SEARCH_KEY_PREFIX) - 1 + SEARCH_WORD_MAX];
	size_t plen = sizeof(SEARCH_KEY_PREFIX) - 1;
	/* A normalised word fits; anything longer is hashed as its first 64 bytes. */
	size_t wlen = strnlen(word, SEARCH_WORD_MAX);

	memcpy(in, SEARCH_KEY_PREFIX, plen);
	memcpy(in + plen, word, wlen);
	sha1(in, plen + wlen, key);
}

/* Matching. */

/* The query's words; 0 if it has none or more than a query may have (then nothing matches). */
static size_t
query_words(const char *query, char q[SEARCH_MAX_WORDS + 1][SEARCH_WORD_MAX + 1])
{
	size_t n = search_words(query, q, SEARCH_MAX_WORDS + 1);

	return n > SEARCH_MAX_WORDS ? 0 : n;
}

int
search_name_matches(const char *name, const char *query)
{
	char q[SEARCH_MAX_WORDS + 1][SEARCH_WORD_MAX + 1], w[SEARCH_WORD_MAX + 1];
	size_t nq = query_words(query, q);
	unsigned all = (1u << nq) - 1, got = 0;
	struct sw_iter it;

	if (nq == 0)
		return 0;
	sw_init(&it, name);
	/* One pass over the name: it can be long, the query is 8 words at most. */
	while (got != all && sw_next(&it, w) > 0)
		for (size_t i = 0; i < nq; i++)
			if (strncmp(w, q[i], strlen(q[i])) == 0)
				got |= 1u << i;
	return got == all;
}

int
search_match_quality(const char *name, const char *query)
{
	char q[SEARCH_MAX_WORDS + 1][SEARCH_WORD_MAX + 1], w[SEARCH_WORD_MAX + 1];
	size_t nq = query_words(query, q), k = 0;
	unsigned all = (1u << nq) - 1, whole = 0;
	int same = 1;
	struct sw_iter it;

	if (nq == 0)
		return 0;
	sw_init(&it, name);
	for (; sw_next(&it, w) > 0; k++) {
		if (k >= nq || strcmp(w, q[k]) != 0)
			same = 0;
		for (size_t i = 0; i < nq; i++)
			if (strcmp(w, q[i]) == 0)
				whole |= 1u << i;
	}
	if (same && k == nq)
		return 2;
	return whole == all ? 1 : 0;
}

int
search_name_sanitize(char *dst, size_t dstlen, const char *src)
{
	const uint8_t *p = (const uint8_t *)src;
	size_t len, cap, i = 0, o = 0;

	if (dst == NULL || dstlen == 0)
		return -1;
	len = src != NULL ? strlen(src) : 0;
	cap = dstlen - 1 < SEARCH_MAX_NAME ? dstlen - 1 : SEARCH_MAX_NAME;
	while (i < len) {
		size_t n;
		int32_t cp = utf8_decode(p + i, len - i, &n);

		/* Cut before a character that does not fit, never inside one. */
		if (o + (cp < 0 ? 1 : n) > cap)
			break;
		if (cp < 0)
			dst[o++] = '?';
		else if (is_control(cp))
			dst[o++] = ' ';
		else {
			memcpy(dst + o, p + i, n);
			o += n;
		}
		i += n;
	}
	dst[o] = '\0';
	return o > 0 ? 0 : -1;
}

/* The message. */

/* An integer key of dict token d: 0, or -1 with a reason. */
static int
sm_int(const struct be_doc *doc, uint32_t d, const char *key, const char *what,
    int64_t *v, char *err, size_t errlen)
{
	int64_t i = be_dict_get(doc, d, key);

	if (i < 0)
		return sm_fail(err, errlen, "%s%s missing", what, key);
	if (doc->tok[i].type != BE_INT)
		return sm_fail(err, errlen, "%s%s is not an integer", what, key);
	*v = doc->tok[i].ival;
	return 0;
}

/* A string key of dict token d: 0, or -1 with a reason. */
static int
sm_str(const struct be_doc *doc, uint32_t d, const char *key, const char *what,
    const uint8_t **s, size_t *n, char *err, size_t errlen)
{
	int64_t i = be_dict_get(doc, d, key);

	if (i < 0)
		return sm_fail(err, errlen, "%s%s missing", what, key);
	if (doc->tok[i].type != BE_STR)
		return sm_fail(err, errlen, "%s%s is not a string", what, key);
	*s = be_str(doc, (uint32_t)i, n);
	return 0;
}

static int
sm_query(const struct be_doc *doc, int64_t qi, struct search_msg *m, char *err,
    size_t errlen)
{
	char raw[SEARCH_MAX_QUERY + 1];
	const uint8_t *s;
	size_t n;
	int words;

	if (doc->tok[qi].type != BE_STR)
		return sm_fail(err, errlen, "q is not a string");
	s = be_str(doc, (uint32_t)qi, &n);
	if (n == 0)
		return sm_fail(err, errlen, "q empty");
	if (n > SEARCH_MAX_QUERY)
		return sm_fail(err, errlen, "q of %zu bytes, over %d", n, SEARCH_MAX_QUERY);
	if (text_check(s, n, "q", err, errlen) == -1)
		return -1;
	memcpy(raw, s, n);
	raw[n] = '\0';
	/* Normalising never lengthens text, so m->query (as large as raw) holds it. */
	words = search_normalise(raw, SEARCH_MAX_WORDS + 1, m->query, sizeof(m->query));
	if (words <= 0)
		return sm_fail(err, errlen, "q has no word");
	if (words > SEARCH_MAX_WORDS)
		return sm_fail(err, errlen, "q has more than %d words", SEARCH_MAX_WORDS);
	m->type = SEARCH_MSG_QUERY;
	return 0;
}

static int
sm_result(const struct be_doc *doc, uint32_t d, size_t k, struct search_result *r,
    char *err, size_t errlen)
{
	char what[32];
	const uint8_t *s = NULL;	/* set before use; -O3 cannot see through sm_fail */
	int64_t v = 0;
	size_t n = 0;

	snprintf(what, sizeof(what), "result %zu: ", k);
	if (doc->tok[d].type != BE_DICT)
		return sm_fail(err, errlen, "result %zu is not a dictionary", k);
	if (sm_int(doc, d, "f", what, &v, err, errlen) == -1)
		return -1;
	if (v < 1 || v > SEARCH_MAX_FILES)
		return sm_fail(err, errlen, "%sf %" PRId64 " out of range 1..%u", what, v,
		    SEARCH_MAX_FILES);
	r->files = (uint32_t)v;
	if (sm_str(doc, d, "h", what, &s, &n, err, errlen) == -1)
		return -1;
	if (n != sizeof(r->info_hash))
		return sm_fail(err, errlen, "%sh of %zu bytes, not 20", what, n);
	memcpy(r->info_hash, s, n);
	if (sm_int(doc, d, "l", what, &v, err, errlen) == -1)
		return -1;
	if (v < 0)
		return sm_fail(err, errlen, "%snegative l %" PRId64, what, v);
	r->size = (uint64_t)v;
	if (sm_str(doc, d, "n", what, &s, &n, err, errlen) == -1)
		return -1;
	if (n == 0)
		return sm_fail(err, errlen, "%sn empty", what);
	if (n > SEARCH_MAX_NAME)
		return sm_fail(err, errlen, "%sn of %zu bytes, over %d", what, n,
		    SEARCH_MAX_NAME);
	if (text_check(s, n, "n", err, errlen) == -1)
		return -1;
	memcpy(r->name, s, n);
	r->name[n] = '\0';
	return 0;
}

static int
sm_results(const struct be_doc *doc, int64_t ri, struct search_msg *m, char *err,
    size_t errlen)
{
	uint32_t i;

	if (doc->tok[ri].type != BE_LIST)
		return sm_fail(err, errlen, "r is not a list");
	if (doc->tok[ri].count > SEARCH_MAX_RESULTS)
		return sm_fail(err, errlen, "%" PRIu32 " results, over %d",
		    doc->tok[ri].count, SEARCH_MAX_RESULTS);
	i = (uint32_t)ri + 1;
	for (size_t k = 0; k < doc->tok[ri].count; k++) {
		struct search_result *r = &m->results[k];

		if (sm_result(doc, i, k, r, err, errlen) == -1)
			return -1;
		/* One torrent counted twice would count its peer as two sources. */
		for (size_t j = 0; j < k; j++)
			if (memcmp(m->results[j].info_hash, r->info_hash, 20) == 0)
				return sm_fail(err, errlen,
				    "results %zu and %zu have the same info-hash", j, k);
		i = doc->tok[i].next;
	}
	m->nresults = doc->tok[ri].count;
	m->type = SEARCH_MSG_RESULTS;
	return 0;
}

static int
sm_check(const struct be_doc *doc, struct search_msg *m, char *err, size_t errlen)
{
	int64_t qi, ri, t = 0;

	if (doc->tok[0].type != BE_DICT)
		return sm_fail(err, errlen, "not a dictionary");
	qi = be_dict_get(doc, 0, "q");
	ri = be_dict_get(doc, 0, "r");
	if (qi >= 0 && ri >= 0)
		return sm_fail(err, errlen, "both q and r");
	if (qi < 0 && ri < 0)
		return sm_fail(err, errlen, "neither q nor r");
	if (sm_int(doc, 0, "t", "", &t, err, errlen) == -1)
		return -1;
	if (t < 0 || t > UINT32_MAX)
		return sm_fail(err, errlen, "t %" PRId64 " out of range 0..%" PRIu32, t,
		    UINT32_MAX);
	m->id = (uint32_t)t;
	return qi >= 0 ? sm_query(doc, qi, m, err, errlen) :
	    sm_results(doc, ri, m, err, errlen);
}

int
search_msg_parse(const uint8_t *p, size_t len, struct search_msg *m, char *err,
    size_t errlen)
{
	struct be_doc doc;
	char why[160];
	int rc;

	memset(m, 0, sizeof(*m));
	/* Checked before decoding a byte: the cap is the message type's own. */
	if (len > SEARCH_MSG_MAX)
		return sm_fail(err, errlen, "%zu bytes, over %d", len, SEARCH_MSG_MAX);
	if (be_decode(p, len, &search_limits, &doc, why, sizeof(why)) == -1)
		return sm_fail(err, errlen, "bencode: %s", why);
	rc = sm_check(&doc, m, err, errlen);
	be_doc_free(&doc);
	if (rc == -1)
		memset(m, 0, sizeof(*m));
	return rc;
}

int
search_msg_build_query(struct buf *b, uint32_t id, const char *q)
{
	char norm[SEARCH_MAX_QUERY + 1];
	size_t start = b->len;
	int n;

	if (q == NULL)
		return -1;
	n = search_normalise(q, SEARCH_MAX_WORDS + 1, norm, sizeof(norm));
	if (n <= 0 || n > SEARCH_MAX_WORDS)
		return -1;
	if (be_put_dict(b) == -1 || be_put_cstr(b, "q") == -1 ||
	    be_put_cstr(b, norm) == -1 || be_put_cstr(b, "t") == -1 ||
	    be_put_int(b, id) == -1 || be_put_end(b) == -1) {
		b->len = start;
		return -1;
	}
	return 0;
}

/* Would search_msg_parse take this result? (Never send what we would refuse.) */
static int
result_valid(const struct search_result *r)
{
	size_t n = strnlen(r->name, sizeof(r->name));

	if (n == 0 || n > SEARCH_MAX_NAME)
		return 0;
	if (r->files < 1 || r->files > SEARCH_MAX_FILES || r->size > INT64_MAX)
		return 0;
	return text_check((const uint8_t *)r->name, n, "n", NULL, 0) == 0;
}

/* d1:fi<files>e1:h20:<hash>1:li<size>e1:n<len>:<name>e, keys in byte order. */
static int
put_result(struct buf *b, const struct search_result *r)
{
	if (be_put_dict(b) == -1 || be_put_cstr(b, "f") == -1 ||
	    be_put_int(b, r->files) == -1 || be_put_cstr(b, "h") == -1 ||
	    be_put_str(b, r->info_hash, sizeof(r->info_hash)) == -1 ||
	    be_put_cstr(b, "l") == -1 || be_put_int(b, (int64_t)r->size) == -1 ||
	    be_put_cstr(b, "n") == -1 || be_put_cstr(b, r->name) == -1)
		return -1;
	return be_put_end(b);
}

/* Bytes of "e1:ti<id>ee", the end of an answer after its list. */
static size_t
answer_tail(uint32_t id)
{
	size_t digits = 1;

	for (uint32_t v = id; v >= 10; v /= 10)
		digits++;
	return strlen("e1:ti") + digits + strlen("ee");
}

int
search_msg_build_results_max(struct buf *b, uint32_t id, const struct search_result *r,
    size_t n, size_t maxlen)
{
	size_t k = n > SEARCH_MAX_RESULTS ? SEARCH_MAX_RESULTS : n;
	size_t start = b->len, tail = answer_tail(id), put;

	if (k > 0 && r == NULL)
		return -1;
	if (maxlen > SEARCH_MSG_MAX)
		maxlen = SEARCH_MSG_MAX;
	for (size_t i = 0; i < k; i++) {
		if (!result_valid(&r[i]))
			return -1;
		for (size_t j = 0; j < i; j++)
			if (memcmp(r[j].info_hash, r[i].info_hash, 20) == 0)
				return -1;
	}
	if (be_put_dict(b) == -1 || be_put_cstr(b, "r") == -1 || be_put_list(b) == -1)
		goto fail;
	for (put = 0; put < k; put++) {
		size_t before = b->len;

		if (put_result(b, &r[put]) == -1)
			goto fail;
		if (b->len - start + tail > maxlen) {
			b->len = before;
			break;
		}
	}
	if (b->len - start + tail > maxlen)
		goto fail;	/* not even an empty answer fits */
	if (be_put_end(b) == -1 || be_put_cstr(b, "t") == -1 || be_put_int(b, id) == -1 ||
	    be_put_end(b) == -1)
		goto fail;
	return (int)put;
fail:
	b->len = start;
	return -1;
}

int
search_msg_build_results(struct buf *b, uint32_t id, const struct search_result *r,
    size_t n)
{
	return search_msg_build_results_max(b, id, r, n, SEARCH_MSG_MAX);
}
