/* storage.h: a torrent's bytes on disk: piece <-> file mapping, reads and piece hashing. */
#ifndef P2P_STORAGE_H
#define P2P_STORAGE_H

#include <stddef.h>
#include <stdint.h>

struct storage;
struct metainfo;

/*
 * Only storage touches torrent data files. Its functions block: call them
 * from worker jobs, never from the event loop. A storage is immutable after
 * creation, so jobs on several threads may share it; each job reads through
 * its own storage_reader, which keeps the current file open between pieces.
 */
struct storage_file {
	const char *path;	/* relative to the base directory */
	uint64_t length;
};

/*
 * base is a trusted absolute directory (the download folder, or the folder
 * holding a shared path); the files' relative paths were sanitised by the
 * metainfo parser or found by walking a shared directory.
 */
struct storage *storage_new(const char *base, const struct storage_file *files,
    size_t nfiles, uint32_t piece_length, uint64_t total_length);
/* Layout of a parsed torrent whose data lives at root (file or directory). */
struct storage *storage_from_metainfo(const struct metainfo *mi, const char *root);
void storage_free(struct storage *st);
uint32_t storage_piece_count(const struct storage *st);
uint32_t storage_piece_size(const struct storage *st, uint32_t piece);
uint64_t storage_total_length(const struct storage *st);
size_t storage_file_count(const struct storage *st);
const char *storage_file_path(const struct storage *st, size_t i);
uint64_t storage_file_length(const struct storage *st, size_t i);
/* Byte range [*first, *last] of pieces that file i touches; 0, or -1 for an empty file. */
int storage_file_pieces(const struct storage *st, size_t i, uint32_t *first, uint32_t *last);

enum storage_status {
	STORAGE_OK = 0,
	STORAGE_MISSING = 1,	/* a file is absent or shorter than its length */
	STORAGE_ERROR = -1,	/* any other I/O error; err says what */
};

struct storage_reader;

struct storage_reader *storage_reader_new(struct storage *st);
void storage_reader_free(struct storage_reader *r);
/* Reads len bytes at torrent offset off into out. */
enum storage_status storage_read(struct storage_reader *r, uint64_t off, void *out,
    size_t len, char *err, size_t errlen);
/* SHA-1 of piece i; buf must hold the piece (storage_piece_size). */
enum storage_status storage_hash_piece(struct storage_reader *r, uint32_t piece,
    uint8_t *buf, uint8_t out[20], char *err, size_t errlen);

/* Range of file indices [*first, *last] that piece i's bytes lie in. */
void storage_piece_files(const struct storage *st, uint32_t piece, size_t *first,
    size_t *last);

/*
 * Writes len bytes at torrent offset off, creating directories and files as
 * needed. Paths are walked one component at a time below the torrent's base
 * directory with O_NOFOLLOW, so a symbolic link planted inside the download
 * folder cannot steer a write outside it. STORAGE_OK or STORAGE_ERROR.
 */
enum storage_status storage_write(struct storage_reader *r, uint64_t off, const void *p,
    size_t len, char *err, size_t errlen);
/* Creates the torrent's zero-length files (no piece writes them), safely as storage_write. */
enum storage_status storage_create_empty(struct storage *st, char *err, size_t errlen);
/*
 * Removes rel below base (a file, or with dir an empty directory) without
 * following a symbolic link on the way, so a link planted in the download
 * folder cannot steer `remove --delete-data` outside it. 0, or -1 with errno
 * (ELOOP or ENOTDIR: a link or a file was in the way).
 */
int storage_unlink_beneath(const char *base, const char *rel, int dir);
/* fdatasync each listed file that exists. */
enum storage_status storage_sync(struct storage *st, const size_t *files, size_t n,
    char *err, size_t errlen);

#endif
