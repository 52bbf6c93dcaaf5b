"""`sslhsic-zoo`: list, describe, download, verify and pack zoo entries.

    sslhsic-zoo list                       names, sizes, kNN, and whether each is here
    sslhsic-zoo info NAME                  the manifest entry (JSON)
    sslhsic-zoo download NAME [--force]    into the cache (progress above a few MB)
    sslhsic-zoo verify [NAME]              sizes and SHA-256 of every file (all entries here)
    sslhsic-zoo pack NAME OUT              OUT/NAME.tar + .sha256, for publishing
    sslhsic-zoo card [NAME]                the entry's Markdown card (zoo/cards.py); all: docs/zoo.md
    sslhsic-zoo card --write docs/zoo.md   every card, between the file's card markers
    sslhsic-zoo table [--write README.md]  the README's zoo table (printed, or replaced in FILE)
    sslhsic-zoo annotate NAME [--report evaluation.json] [--analysis analysis.json]
                [--good_for TEXT]          add sslhsic-evaluate / sslhsic-analyze results

Options: --root (a local zoo folder, as $SSLHSIC_ZOO), --url (as $SSLHSIC_ZOO_URL), --cache_dir
(as $SSLHSIC_ZOO_CACHE). Errors: one line `error: ...`, exit code 1.
"""

import argparse
import json
import sys

from sslhsic_tf.zoo import cards, catalog


def _knn(entry):
    for figure in entry.get("evaluation", []):
        if figure["metric"] == "top1" and "k=200" in figure["protocol"]:
            return f"{100 * figure['value']:.1f}%"
    return "-"


def _list(args):
    rows = [("name", "method", "MB", "kNN k=200", "here")]
    for name in catalog.list_models(args.root):
        desc = catalog.info(name, args.root, args.cache_dir)
        rows.append((name, desc["method"], f"{desc.get('total_size', 0) / 1e6:.1f}",
                     _knn(desc), desc["source"] if desc["available"] else "no"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _info(args):
    print(json.dumps(catalog.info(args.name, args.root, args.cache_dir), indent=2))


def _download(args):
    path = catalog.download(args.name, url=args.url, cache_dir=args.cache_dir, force=args.force,
                            root=args.root)
    print(path)


def _verify(args):
    names = [args.name] if args.name else catalog.list_models(args.root)
    checked = 0
    for name in names:
        desc = catalog.info(name, args.root, args.cache_dir)
        if not args.name and not desc["available"]:
            print(f"{name}: not downloaded")
            continue
        catalog.verify(name, args.root, args.cache_dir)
        checked += 1
        print(f"{name}: ok ({len(desc['files'])} files, {desc['source']} {desc['path']})")
    if not checked:
        print("no entry is here to verify; `sslhsic-zoo download NAME` first")


def _pack(args):
    path = catalog.pack(args.name, args.out, args.root, args.cache_dir)
    print(f"{path}  sha256 {path.with_name(path.name + '.sha256').read_text().split()[0]}")


def _read_json(path, flag):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"--{flag}={path}: cannot read it as JSON ({err})") from None


def _annotate(args):
    report = _read_json(args.report, "report") if args.report else None
    analysis = None
    if args.analysis:
        doc = _read_json(args.analysis, "analysis")
        records = doc.get("encoders", []) if isinstance(doc, dict) else []
        chosen = [r for r in records if r.get("name") == args.name]
        if len(chosen) != 1:
            raise ValueError(f"--analysis={args.analysis}: no encoder record named {args.name!r} "
                             f"(it has {[r.get('name') for r in records]}); analyse "
                             f"--encoder=zoo:{args.name}")
        analysis = {**chosen[0], "data": doc.get("data"), "knn_train": doc.get("knn_train")}
    if report is None and analysis is None and args.good_for is None:
        raise ValueError("annotate: give --report, --analysis or --good_for")
    cards.annotate(args.name, report=report, analysis=analysis, good_for=args.good_for,
                   root=args.root)
    print(cards.card(args.name, args.root))


def _card(args):
    if args.write and args.name:
        raise ValueError(f"card --write={args.write} writes every card; leave out NAME "
                         f"({args.name!r}) or --write")
    if args.write:
        changed = cards.write_into(args.write, "cards", args.root)
        print(f"{args.write}: cards {'updated' if changed else 'already current'}")
        return
    print(cards.card(args.name, args.root) if args.name else cards.all_cards(args.root), end="")


def _table(args):
    if args.write:
        changed = cards.write_into(args.write, "table", args.root)
        print(f"{args.write}: zoo table {'updated' if changed else 'already current'}")
        return
    print(cards.table(args.root), end="")


def parser():
    p = argparse.ArgumentParser(prog="sslhsic-zoo", description=__doc__.splitlines()[0])
    p.add_argument("--root", default=None, help="a local zoo folder (as $SSLHSIC_ZOO)")
    p.add_argument("--url", default=None, help="the zoo's base URL (as $SSLHSIC_ZOO_URL)")
    p.add_argument("--cache_dir", default=None, help="the download cache ($SSLHSIC_ZOO_CACHE)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the entries").set_defaults(run=_list)
    q = sub.add_parser("info", help="one entry's manifest record")
    q.add_argument("name")
    q.set_defaults(run=_info)
    q = sub.add_parser("download", help="fetch an entry into the cache")
    q.add_argument("name")
    q.add_argument("--force", action="store_true", help="fetch again over a cached copy")
    q.set_defaults(run=_download)
    q = sub.add_parser("verify", help="check the files of one entry, or of every entry here")
    q.add_argument("name", nargs="?")
    q.set_defaults(run=_verify)
    q = sub.add_parser("pack", help="write NAME.tar and its checksum for publishing")
    q.add_argument("name")
    q.add_argument("out")
    q.set_defaults(run=_pack)
    q = sub.add_parser("card", help="one entry's Markdown card, or every entry's")
    q.add_argument("name", nargs="?")
    q.add_argument("--write", metavar="FILE", help="every card into FILE, between its card "
                   "markers (docs/zoo.md), instead of printing")
    q.set_defaults(run=_card)
    q = sub.add_parser("table", help="the zoo table of the README")
    q.add_argument("--write", metavar="FILE", help="replace the zoo table in FILE (README.md) "
                   "instead of printing")
    q.set_defaults(run=_table)
    q = sub.add_parser("annotate", help="add evaluation, analysis and a use line to an entry")
    q.add_argument("name")
    q.add_argument("--report", help="an sslhsic-evaluate report (evaluation.json)")
    q.add_argument("--analysis", help="sslhsic-analyze's analysis.json (the entry's record)")
    q.add_argument("--good_for", help="one line: what the entry is good for")
    q.set_defaults(run=_annotate)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, OSError) as err:
        message = str(err).replace("\n", " ")
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
