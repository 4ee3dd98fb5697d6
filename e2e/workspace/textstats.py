"""Word counts and simple statistics for plain-text files."""

import collections
import re
import sys

WORD = re.compile(r"[A-Za-z']+")


def read_words(path, encoding="utf-8"):
    """Yield the lower-cased words of the file at path."""
    with open(path, encoding=encoding) as f:
        for line in f:
            for match in WORD.finditer(line):
                yield match.group().lower()


def most_common(words, n=10):
    """Return the n most frequent words with their counts."""
    return collections.Counter(words).most_common(n)


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: textstats.py FILE [N]", file=sys.stderr)
        return 2
    n = int(args[1]) if len(args) > 1 else 10
    for word, count in most_common(read_words(args[0]), n):
        print(f"{count:7d} {word}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
