#!/usr/bin/env python3
"""Generates an Odoo-shaped workload: a PostgreSQL database and a filestore.

    bench/workload.py DB_MIB FILESTORE_MIB DBNAME FILESTORE_DIR

The database is filled through `psql` (libpq environment: PGHOST, PGPORT, PGUSER) with
COPY, and holds the tables whose shape dominates real Odoo dumps:
  - mail_message: HTML bodies of chatter messages (text-heavy, ~55 % of the data),
  - account_move_line: numeric accounting lines (~30 %),
  - ir_attachment: attachment metadata plus a `db_datas` bytea column (~10 %),
  - res_partner: names, addresses, e-mails (~5 %),
  - ir_module_module: the installed modules (read for manifest.json).
DB_MIB is the approximate size of the rows as text, i.e. of `pg_dump`'s plain output.

The filestore uses Odoo's layout (`<2 hex>/<sha1>`) and mix: about two thirds of its
bytes are already-compressed content (JPEG-like: a JFIF header and entropy-coded-like
random bytes; PDF-like: FlateDecode streams of text), one third text (XML, CSV, plain
text). Everything is drawn from a fixed seed: the same arguments give the same bytes.
"""

import hashlib
import os
import random
import subprocess
import sys
import zlib

SEED = 20240611
MIB = 1 << 20


def vocabulary(rng):
    """Pseudo-words with a Zipf-like frequency, so text compresses like prose (~3x)."""
    syllables = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"] + ["tion", "ment", "que", "eau"]
    words = set()
    while len(words) < 6000:
        words.add("".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
    words = sorted(words)
    rng.shuffle(words)
    cum, total = [], 0.0
    for rank in range(len(words)):
        total += 1.0 / (rank + 1)
        cum.append(total)
    return words, cum


class Text:
    """Random prose from a pool of sentences (fast enough for gigabytes)."""

    def __init__(self, rng):
        self.rng = rng
        words, cum = vocabulary(rng)
        self.words = words
        self.sentences = []
        for _ in range(40000):
            n = rng.randint(5, 18)
            s = " ".join(rng.choices(words, cum_weights=cum, k=n))
            self.sentences.append(s[0].upper() + s[1:] + rng.choice((".", ".", ".", "?", "!")))

    def prose(self, approx_len):
        # Sentences average ~70 characters.
        return " ".join(self.rng.choices(self.sentences, k=approx_len // 70 + 1))

    def word(self):
        return self.rng.choice(self.words)

    def name(self):
        return f"{self.word().capitalize()} {self.word().capitalize()}"


def copy_into(dbname, table, columns, rows):
    """Streams rows (tuples of already-escaped text) into `table` with COPY."""
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c",
           f"COPY {table} ({', '.join(columns)}) FROM STDIN"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    buf, size = [], 0
    for row in rows:
        line = "\t".join(row) + "\n"
        buf.append(line)
        size += len(line)
        if size > 4 * MIB:
            proc.stdin.write("".join(buf).encode())
            buf, size = [], 0
    proc.stdin.write("".join(buf).encode())
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit(f"COPY into {table} failed")


def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


SCHEMA = """
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar NOT NULL, email varchar,
  phone varchar, street varchar, city varchar, zip varchar, comment text,
  create_date timestamp DEFAULT now());
CREATE TABLE mail_message (id serial PRIMARY KEY, model varchar, res_id integer,
  author_id integer REFERENCES res_partner(id), subject varchar, body text,
  message_type varchar NOT NULL, date timestamp);
CREATE INDEX mail_message_res_idx ON mail_message (model, res_id);
CREATE TABLE account_move_line (id serial PRIMARY KEY, move_id integer NOT NULL,
  account_id integer NOT NULL, partner_id integer REFERENCES res_partner(id), name varchar,
  ref varchar, date date NOT NULL, debit numeric(16,2), credit numeric(16,2),
  balance numeric(16,2), amount_currency numeric(16,2), quantity numeric, price_unit numeric,
  reconciled boolean);
CREATE INDEX account_move_line_move_idx ON account_move_line (move_id);
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name varchar NOT NULL, res_model varchar,
  res_id integer, store_fname varchar, file_size integer, checksum varchar(40),
  mimetype varchar, db_datas bytea, create_date timestamp);
CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL,
  latest_version varchar, state varchar);
INSERT INTO ir_module_module (name, latest_version, state) VALUES
  ('base', '17.0.1.3', 'installed'), ('web', '17.0.1.0', 'installed'),
  ('mail', '17.0.1.15', 'installed'), ('account', '17.0.1.2', 'installed'),
  ('sale', '17.0.1.2', 'installed'), ('stock', '17.0.1.1', 'installed');
"""

MODELS = ["sale.order", "account.move", "res.partner", "crm.lead", "project.task", "stock.picking"]


def fill_database(dbname, total, rng, text):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c", SCHEMA],
                   check=True)
    partners = max(100, int(total * 0.05) // 200)

    def partner_rows():
        for i in range(partners):
            name = text.name()
            yield (esc(name), f"{name.lower().replace(' ', '.')}@example.com",
                   f"+33 {rng.randint(100000000, 999999999)}",
                   f"{rng.randint(1, 200)} rue {text.word()}", text.word().capitalize(),
                   f"{rng.randint(10000, 99999)}",
                   esc(text.prose(rng.randint(0, 120))) if rng.random() < 0.3 else "\\N")

    copy_into(dbname, "res_partner", ["name", "email", "phone", "street", "city", "zip", "comment"],
              partner_rows())

    def message_rows(budget):
        size = 0
        while size < budget:
            paragraphs = "".join(f"<p>{text.prose(rng.randint(40, 400))}</p>"
                                 for _ in range(rng.randint(1, 4)))
            body = f'<div class="o_mail_body">{paragraphs}</div>'
            size += len(body) + 80
            yield (rng.choice(MODELS), str(rng.randint(1, 50000)), str(rng.randint(1, partners)),
                   esc(text.prose(30)) if rng.random() < 0.5 else "\\N", esc(body),
                   rng.choice(("comment", "notification", "email")),
                   f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
                   f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}")

    copy_into(dbname, "mail_message",
              ["model", "res_id", "author_id", "subject", "body", "message_type", "date"],
              message_rows(int(total * 0.55)))

    def move_line_rows(budget):
        size, move = 0, 1
        while size < budget:
            move += rng.random() < 0.3
            amount = round(rng.lognormvariate(4, 1.5), 2)
            debit = rng.random() < 0.5
            row = (str(move), str(rng.randint(1, 400)), str(rng.randint(1, partners)),
                   esc(f"INV/2024/{move:05d} {text.word()} {text.word()}"),
                   f"REF{rng.randint(1, 99999)}",
                   f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                   f"{amount if debit else 0:.2f}", f"{0 if debit else amount:.2f}",
                   f"{amount if debit else -amount:.2f}", f"{amount * 1.08:.2f}",
                   f"{rng.randint(1, 20)}", f"{amount / rng.randint(1, 20):.4f}",
                   "t" if rng.random() < 0.7 else "f")
            size += sum(len(c) for c in row) + 13
            yield row

    copy_into(dbname, "account_move_line",
              ["move_id", "account_id", "partner_id", "name", "ref", "date", "debit", "credit",
               "balance", "amount_currency", "quantity", "price_unit", "reconciled"],
              move_line_rows(int(total * 0.30)))

    def attachment_rows(budget):
        size, i = 0, 0
        while size < budget:
            i += 1
            # Small inline images and icons: mostly compressed bytes, some SVG/text.
            if rng.random() < 0.6:
                blob = rng.randbytes(rng.randint(200, 6000))
            else:
                blob = text.prose(rng.randint(200, 3000)).encode()
            data = "\\\\x" + blob.hex()
            size += len(data) + 150
            yield (f"attachment_{i}.{rng.choice(('png', 'svg', 'txt'))}", rng.choice(MODELS),
                   str(rng.randint(1, 50000)), "\\N", str(len(blob)),
                   hashlib.sha1(blob).hexdigest(), "application/octet-stream", data,
                   "2024-05-01 12:00:00")

    copy_into(dbname, "ir_attachment",
              ["name", "res_model", "res_id", "store_fname", "file_size", "checksum", "mimetype",
               "db_datas", "create_date"],
              attachment_rows(int(total * 0.10)))
    subprocess.run(["psql", "-X", "-q", "-d", dbname, "-c", "VACUUM ANALYZE"], check=True)


def jpeg_like(rng, size):
    header = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
              + b"\xff\xdb\x00\x43\x00" + bytes(range(64)))
    return header + rng.randbytes(max(0, size - len(header) - 2)) + b"\xff\xd9"


def pdf_like(rng, text, size):
    parts, n = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"], 1
    while sum(len(p) for p in parts) < size:
        stream = zlib.compress(text.prose(rng.randint(8000, 60000)).encode(), 1)
        parts.append(b"%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % (n, len(stream))
                     + stream + b"\nendstream\nendobj\n")
        n += 1
    parts.append(b"xref\n0 %d\n" % n + b"".join(b"%010d 00000 n \n" % (i * 977) for i in range(n))
                 + b"trailer\n<< /Size %d /Root 1 0 R >>\n%%%%EOF\n" % n)
    return b"".join(parts)


def xml_like(rng, text, size):
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<Invoice xmlns="urn:oasis:names:specification:ubl">\n']
    total = len(out[0])
    while total < size:
        line = (f'  <InvoiceLine id="{rng.randint(1, 99999)}"><Item><Name>{text.prose(40)}</Name>'
                f'</Item><Quantity unitCode="C62">{rng.randint(1, 50)}</Quantity>'
                f'<Price currencyID="EUR">{rng.lognormvariate(3, 1):.2f}</Price></InvoiceLine>\n')
        out.append(line)
        total += len(line)
    out.append("</Invoice>\n")
    return "".join(out).encode()


def csv_like(rng, text, size):
    out, total = ["id,date,partner,label,debit,credit\n"], 0
    while total < size:
        line = (f"{rng.randint(1, 10**6)},2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
                f"\"{text.name()}\",\"{text.prose(20)}\",{rng.lognormvariate(4, 1.5):.2f},0.00\n")
        out.append(line)
        total += len(line)
    return "".join(out).encode()


def fill_filestore(root, total, rng, text):
    os.makedirs(os.path.join(root, "checklist"), exist_ok=True)
    written = 0
    compressed_target = total * 2 // 3
    compressed = 0
    while written < total:
        if compressed < compressed_target and (rng.random() < 0.67 or written - compressed >= total // 3):
            size = int(min(max(rng.lognormvariate(12.2, 1.1), 4000), 12 * MIB))
            data = jpeg_like(rng, size) if rng.random() < 0.6 else pdf_like(rng, text, size)
            compressed += len(data)
        else:
            size = int(min(max(rng.lognormvariate(10.5, 1.2), 500), 8 * MIB))
            kind = rng.random()
            if kind < 0.5:
                data = xml_like(rng, text, size)
            elif kind < 0.8:
                data = csv_like(rng, text, size)
            else:
                data = text.prose(size).encode()
        sha = hashlib.sha1(data).hexdigest()
        folder = os.path.join(root, sha[:2])
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, sha), "wb") as f:
            f.write(data)
        written += len(data)
    return written, compressed


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    db_mib, fs_mib, dbname, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    rng = random.Random(SEED)
    text = Text(rng)
    fill_database(dbname, db_mib * MIB, rng, text)
    written, compressed = fill_filestore(root, fs_mib * MIB, rng, text)
    print(f"filestore: {written / MIB:.0f} MiB, {100 * compressed / max(written, 1):.0f} % compressed content",
          file=sys.stderr)


if __name__ == "__main__":
    main()
