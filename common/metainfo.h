/* metainfo.h: .torrent (BEP 3, v1) parse and build, info-hash, file-list sanitising. */
#ifndef P2P_METAINFO_H
#define P2P_METAINFO_H

#include <stddef.h>
#include <stdint.h>

struct buf;

#define MI_MAX_PIECE_LENGTH (64u << 20)
#define MI_MIN_PIECE_LENGTH (16u << 10)
#define MI_DEFAULT_MAX_FILES 100000
#define MI_DEFAULT_MAX_SIZE (32u << 20)	/* whole .torrent or info dict */
#define MI_MAX_PATH 4096		/* bytes of one joined relative path */
#define MI_MAX_COMPONENT 255		/* bytes of one path component */

struct mi_file {
	char *path;		/* relative to the torrent's root, '/'-separated, sanitised */
	uint64_t length;
	uint64_t offset;	/* of its first byte within the torrent */
};

struct metainfo {
	uint8_t info_hash[20];		/* SHA-1 of the raw info dict */
	char *name;			/* sanitised single component */
	uint32_t piece_length;
	uint32_t piece_count;
	uint8_t *pieces;		/* piece_count * 20 bytes */
	uint64_t total_length;
	struct mi_file *files;		/* one entry for a single-file torrent */
	size_t file_count;
	int multi_file;			/* 1: files live under the directory `name` */
	int private_flag;		/* info.private = 1 (BEP 27) */
	char **trackers;		/* announce + announce-list, de-duplicated */
	uint32_t *tiers;		/* tier of each tracker (BEP 12) */
	size_t tracker_count;
	char *comment;			/* may be NULL */
	char *created_by;		/* may be NULL */
	int64_t creation_date;		/* 0 if absent */
	uint8_t *info;			/* raw bencoded info dict, owned */
	size_t info_len;
};

struct mi_limits {
	size_t max_files;
	size_t max_size;
};

extern const struct mi_limits mi_default_limits;

/*
 * Parses a whole .torrent file. Refuses: bad bencode, missing or ill-typed
 * keys, piece length not a power of two within [16 KiB, 64 MiB], pieces not a
 * multiple of 20 or not matching the total length, file paths with "..", ".",
 * empty components, absolute paths, '/' or '\\' inside a component, NUL or
 * control characters, components over 255 bytes, over max_files files.
 * Returns 0 with *out set, or -1 with a message in err.
 */
int metainfo_parse(const uint8_t *buf, size_t len, const struct mi_limits *lim,
    struct metainfo **out, char *err, size_t errlen);
/* Parses a bare info dict (as stored, or fetched by ut_metadata). */
int metainfo_parse_info(const uint8_t *info, size_t len, const struct mi_limits *lim,
    struct metainfo **out, char *err, size_t errlen);
void metainfo_free(struct metainfo *mi);

/* 1 if s (len bytes) is acceptable as one path component, as the parser judges. */
int metainfo_component_ok(const char *s, size_t len);

/* A power of two giving roughly 1000-2000 pieces, within [16 KiB, 16 MiB]. */
uint32_t metainfo_auto_piece_length(uint64_t total_length);

/* What a share hands to metainfo_build. */
struct mi_build_file {
	const char *path;	/* relative, '/'-separated; ignored for a single file */
	uint64_t length;
};

struct mi_build {
	const char *name;
	int multi_file;
	const struct mi_build_file *files;
	size_t file_count;
	uint32_t piece_length;
	const uint8_t *pieces;	/* piece_count * 20 bytes */
	uint32_t piece_count;
	int private_flag;
	const char *const *trackers;	/* each its own tier */
	size_t tracker_count;
	const char *created_by;		/* may be NULL */
	int64_t creation_date;		/* 0: omitted */
};

/* Builds the info dict (keys sorted) and the metainfo; same checks as parse. */
int metainfo_build(const struct mi_build *in, struct metainfo **out,
    char *err, size_t errlen);
/* Writes a complete .torrent: announce, announce-list, dates, and info verbatim. */
int metainfo_encode(const struct metainfo *mi, struct buf *out);
/* Index of the file holding byte offset off (binary search), or -1. */
int64_t metainfo_file_at(const struct metainfo *mi, uint64_t off);
/* Length of piece i (the last one may be short). */
uint32_t metainfo_piece_size(const struct metainfo *mi, uint32_t i);

#endif
