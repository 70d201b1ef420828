#!/usr/bin/env python3
"""bench/lib/searchgen.py: fills a p2pd state database with realistic torrent and
file names for bench/search-local.sh, and writes the queries to time.

The schema must already exist (searchbench init): rows go into torrents, files
and seen, and the store's own triggers index them, as the daemon's writes would.
"""
import argparse
import random
import sqlite3
import sys

# Real words people put in names, most frequent first (Zipf over this list).
ENGLISH = """the of and a to in love my you me night life world day time man girl
heart dream blue black white red dark light fire water sun moon star king queen
war last first new old city road home live best greatest hits story lost wild
blood angel devil ghost shadow summer winter rain storm ocean river mountain
forest house street dance song music sound voice echo silence secret truth lies
golden silver iron stone glass paper ship train car machine robot space planet
earth galaxy future past return rise fall end begin edge game power money gold
empire kingdom legend hero warrior hunter island desert garden castle tower
bridge mirror window door letter message signal code system network cyber
digital electric atomic cosmic magic dragon wolf tiger lion eagle snake bird
horse dog cat fish bear fox""".split()
ACCENTED = ["Café", "Amélie", "Beyoncé", "Motörhead", "Sigur Rós", "Björk",
            "Crème", "Brûlée", "Mañana", "Zoë", "Noël", "Über", "São Paulo",
            "Français", "Español", "Señorita", "Déjà Vu", "Naïve", "Façade"]
TAGS_VIDEO = ["1080p", "720p", "2160p", "BluRay", "WEB-DL", "WEBRip", "HDTV",
              "x264", "x265", "HEVC", "AAC", "DTS", "REMUX", "HDR"]
TAGS_AUDIO = ["FLAC", "MP3", "320", "V0", "24bit", "Vinyl", "CD", "WEB"]
GROUPS = ["SPARKS", "RARBG", "YIFY", "NTb", "FLUX", "EVO", "CMRG", "TEPES",
          "GECKOS", "AMIABLE", "DIMENSION", "LOL", "KILLERS", "ION10"]
SYL = ["ka", "ro", "mi", "ten", "shi", "lo", "va", "der", "an", "bel", "cor",
       "dia", "el", "fa", "gor", "hu", "is", "jen", "kel", "lun", "mar", "nor",
       "ost", "pra", "qui", "ras", "sol", "tur", "ul", "ven", "wex", "yor", "zan"]


class Words:
    """English words and invented names, drawn with Zipf-like frequencies."""

    def __init__(self, rnd, ninvented):
        self.rnd = rnd
        invented = set()
        while len(invented) < ninvented:
            invented.add("".join(rnd.choice(SYL) for _ in range(rnd.randint(2, 4))))
        self.invented = sorted(invented)
        rnd.shuffle(self.invented)
        self.vocab = ENGLISH + self.invented
        self.cum = []
        total = 0.0
        for i in range(len(self.vocab)):
            total += 1.0 / (i + 1) ** 0.9
            self.cum.append(total)

    def word(self):
        if self.rnd.random() < 0.01:
            return self.rnd.choice(ACCENTED)
        return self.rnd.choices(self.vocab, cum_weights=self.cum)[0]

    def title(self, lo, hi):
        return " ".join(self.word().capitalize() for _ in range(self.rnd.randint(lo, hi)))


def movie(w, r):
    title, year = w.title(1, 4), r.randint(1950, 2026)
    tags = " ".join(r.sample(TAGS_VIDEO, 3))
    group = r.choice(GROUPS)
    name = f"{title} ({year}) {tags}-{group}"
    dotted = f"{title.replace(' ', '.')}.{year}.{tags.replace(' ', '.')}-{group}"
    files = [(f"{dotted}.mkv", r.randint(700, 9000) << 20),
             (f"Sample/{dotted}.sample.mkv", r.randint(20, 90) << 20),
             (f"Subs/{r.choice(['English', 'Français', 'Español', 'Deutsch'])}.srt", 60000),
             (f"{dotted}.nfo", 2000)]
    return name, files


def album(w, r):
    artist, title, year = w.title(1, 3), w.title(1, 4), r.randint(1960, 2026)
    fmt = r.choice(TAGS_AUDIO)
    name = f"{artist} - {title} ({year}) [{fmt}]"
    n = r.randint(6, 16)
    files = [(f"{i + 1:02d} - {w.title(1, 5)}.{'flac' if fmt == 'FLAC' else 'mp3'}",
              r.randint(3, 60) << 20) for i in range(n)]
    files.append(("cover.jpg", r.randint(50, 900) << 10))
    return name, files


def season(w, r):
    show, s = w.title(1, 3), r.randint(1, 12)
    tags = " ".join(r.sample(TAGS_VIDEO, 2))
    name = f"{show} S{s:02d} Complete {tags}"
    dotted = show.replace(" ", ".")
    files = [(f"{dotted}.S{s:02d}E{e + 1:02d}.{w.title(1, 3).replace(' ', '.')}."
              f"{tags.replace(' ', '.')}.mkv", r.randint(200, 2000) << 20)
             for e in range(r.randint(6, 13))]
    return name, files


def software(w, r):
    name = r.choice(["ubuntu", "debian", "fedora", "archlinux", "mint", "kali",
                     "freebsd", "openbsd", "blender", "libreoffice", "gimp"])
    v = f"{r.randint(1, 40)}.{r.randint(0, 12)}"
    arch = r.choice(["amd64", "arm64", "i386", "x86_64"])
    full = f"{name}-{v}-{r.choice(['desktop', 'server', 'live', 'netinst'])}-{arch}"
    return full, [(f"{full}.iso", r.randint(300, 4000) << 20), ("SHA256SUMS", 400)]


def book(w, r):
    name = f"{w.title(1, 2)} - {w.title(2, 6)} ({r.choice(['epub', 'pdf', 'mobi'])})"
    return name, [(f"{name}.{r.choice(['epub', 'pdf'])}", r.randint(1, 40) << 20)]


KINDS = [(movie, 30), (album, 30), (season, 10), (software, 5), (book, 25)]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("db")
    ap.add_argument("queries")
    ap.add_argument("--names", type=int, default=1000000, help="index rows to create")
    ap.add_argument("--seen", type=int, default=50000, help="of which seen results")
    ap.add_argument("--nqueries", type=int, default=400)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    r = random.Random(a.seed)
    w = Words(r, 40000)
    db = sqlite3.connect(a.db)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    made, tid, names = 0, 0, []
    kinds, weights = zip(*KINDS)
    while made < a.names - a.seen:
        name, files = r.choices(kinds, weights)[0](w, r)
        tid += 1
        db.execute("INSERT INTO torrents (id, info_hash, name, save_dir, added_at)"
                   " VALUES (?, ?, ?, '/srv', ?)", (tid, r.randbytes(20), name, 1700000000 + tid))
        db.executemany("INSERT INTO files (torrent_id, idx, path, length) VALUES (?, ?, ?, ?)",
                       [(tid, i, p, n) for i, (p, n) in enumerate(files)])
        made += 1 + len(files)
        if r.random() < 0.05:
            names.append(name)
            names.append(r.choice(files)[0])
    for i in range(a.seen):
        name, files = r.choices(kinds, weights)[0](w, r)
        db.execute("INSERT INTO seen (info_hash, name, size, files, sources, seen_at)"
                   " VALUES (?, ?, ?, ?, ?, ?)",
                   (r.randbytes(20), name, sum(n for _, n in files), len(files),
                    int(r.paretovariate(1.2)), 1700000000 + i))
    db.commit()
    total = db.execute("SELECT count(*) FROM names").fetchone()[0]
    print(f"filled {tid} torrents, {made - tid} files, {a.seen} seen results:"
          f" {total} index rows", file=sys.stderr)
    db.close()

    # Queries: class<TAB>text. Words and phrases are taken from generated names.
    def toks(s):
        return [t for t in "".join(c if c.isalnum() else " " for c in s).split() if len(t) > 1]
    q = []
    n = a.nqueries
    common = ENGLISH[:40] + ["1080p", "x264", "flac", "mp3", "bluray", "complete", "sample",
                             "mkv", "cover", "jpg", "ubuntu", "amd64", "epub"]
    for _ in range(n * 15 // 100):
        q.append(("common", r.choice(common)))
    for _ in range(n * 20 // 100):
        q.append(("rare", r.choice(w.invented[len(w.invented) // 2:])))
    for _ in range(n * 15 // 100):
        t = toks(r.choice(names))
        q.append(("words", " ".join(r.sample(t, min(len(t), r.randint(2, 3))))))
    for _ in range(n * 15 // 100):
        t = toks(r.choice(names))
        i = r.randrange(len(t))
        q.append(("phrase", '"' + " ".join(t[i:i + r.randint(2, 3)]) + '"'))
    for _ in range(n * 20 // 100):
        word = r.choice(toks(r.choice(names)) + common)
        q.append(("prefix", word[:r.randint(2, max(2, len(word) - 1))] + "*"))
    for _ in range(n * 5 // 100):
        q.append(("accents", r.choice(["cafe", "CAFÉ", "amelie", "motorhead", "bjork",
                                       "creme brulee", "sao paulo", "francais", "deja*"])))
    while len(q) < n:
        q.append(("common+rare", r.choice(common) + " " + r.choice(w.invented)))
    r.shuffle(q)
    with open(a.queries, "w", encoding="utf-8") as f:
        for cls, text in q:
            f.write(f"{cls}\t{text}\n")


if __name__ == "__main__":
    main()
