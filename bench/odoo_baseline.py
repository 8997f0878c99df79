#!/usr/bin/env python3
"""Baseline A: Odoo's own database-manager backup (odoo/service/db.py `dump_db` and
odoo/tools/osutil.py `zip_dir`), reimplemented step for step without Odoo itself.

    bench/odoo_baseline.py DBNAME FILESTORE_DIR OUTPUT.zip

libpq environment (PGHOST, PGPORT, PGUSER) as for Odoo's pg_dump. Steps, as Odoo does them:
copy the filestore into a temporary directory, write manifest.json there, run
`pg_dump --no-owner --file=<tmp>/dump.sql DB`, then zip the temporary directory with
zipfile.ZIP_DEFLATED (zlib level 6), allowZip64, dump.sql first.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile


def manifest(dbname):
    def query(sql):
        return subprocess.run(["psql", "-X", "-A", "-t", "-F", "\t", "-d", dbname, "-c", sql],
                              check=True, capture_output=True, text=True).stdout
    version_num = int(query("SHOW server_version_num").strip())
    modules = dict(line.split("\t") for line in query(
        "SELECT name, latest_version FROM ir_module_module WHERE state = 'installed'").splitlines()
        if line)
    return {
        "odoo_dump": "1",
        "db_name": dbname,
        "version": "17.0",
        "version_info": [17, 0, 0, "final", 0, ""],
        "major_version": "17.0",
        "pg_version": "%d.%d" % divmod(version_num / 100, 100),
        "modules": modules,
    }


def zip_dir(path, stream, include_dir=True, fnct_sort=None):
    """odoo.tools.osutil.zip_dir, verbatim apart from style."""
    path = os.path.normpath(path)
    len_prefix = len(os.path.dirname(path)) if include_dir else len(path)
    if len_prefix:
        len_prefix += 1
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zipf:
        for dirpath, _dirnames, filenames in os.walk(path):
            filenames = sorted(filenames, key=fnct_sort)
            for fname in filenames:
                bname, ext = os.path.splitext(fname)
                ext = ext or bname
                if ext not in [".pyc", ".pyo", ".swp", ".DS_Store"]:
                    path = os.path.normpath(os.path.join(dirpath, fname))
                    if os.path.isfile(path):
                        zipf.write(path, path[len_prefix:])


def dump_db(dbname, filestore, out):
    with tempfile.TemporaryDirectory() as dump_dir:
        if os.path.exists(filestore):
            shutil.copytree(filestore, os.path.join(dump_dir, "filestore"))
        with open(os.path.join(dump_dir, "manifest.json"), "w") as fh:
            json.dump(manifest(dbname), fh, indent=4)
        subprocess.run(["pg_dump", "--no-owner", "--file=" + os.path.join(dump_dir, "dump.sql"), dbname],
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=True)
        with open(out, "wb") as stream:
            zip_dir(dump_dir, stream, include_dir=False, fnct_sort=lambda name: name != "dump.sql")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    dump_db(*sys.argv[1:])
