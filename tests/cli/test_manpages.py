"""test_manpages.py: the man pages agree with what they describe, render cleanly, and install.

sockserv(1) (man/sockserv.1) against `sockserv --help`, itself printed from the
program's option table: the same options with the same values, the numbers of
each option's help (defaults and bounds) in its man entry, the synopsis, the
modes, the signals, the exit statuses and the version. sockserv(3)
(man/sockserv.3) against include/sockserv.h: every SS_API function, with the
same prototype, in the synopsis and described, none that the header lacks;
every field of ss_config, ss_stats and ss_handler, every strategy and public
macro. These read the roff source directly (Python's standard library only)
and always run. Rendering with groff -ww and man --warnings is checked when
those are installed, else skipped with the install command; the install check
runs `cmake --install` of the man component into a temp prefix.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sockserv_harness import BIN, ROOT, SLOW, require, run  # noqa: E402

MAN1 = os.path.join(ROOT, "man", "sockserv.1")
MAN3 = os.path.join(ROOT, "man", "sockserv.3")
HEADER = os.path.join(ROOT, "include", "sockserv.h")
MAN_INSTALL_HINT = "apt-get install man-db groff-base"

# ---------------------------------------------------------------- roff

# The escapes the pages use, as plain text; any other is reported, so that a
# check never passes on text it misread.
ESCAPES = {
    r"\-": "-", r"\e": "\\", r"\(rs": "\\", r"\(aq": "'", r"\(dq": '"', r"\(lq": '"',
    r"\(rq": '"', r"\(mu": "x", r"\(em": "--", r"\&": "", r"\%": "", r"\ ": " ",
    r"\fB": "", r"\fI": "", r"\fR": "", r"\fP": "",
}
ESCAPE_RE = re.compile(r"\\\(..|\\f.|\\.")
# Font macros: the ones that join their arguments with blanks, and the
# alternating ones that join them without.
JOINED = {"B", "I", "SM", "SB"}
ALTERNATING = {"BI", "BR", "IB", "IR", "RB", "RI"}


def unescape(text, where):
    def one(m):
        if m.group(0) not in ESCAPES:
            raise AssertionError("%s: roff escape %s unknown to this test (add it to ESCAPES)"
                                 % (where, m.group(0)))
        return ESCAPES[m.group(0)]
    return ESCAPE_RE.sub(one, text)


def macro_args(rest):
    """A macro line's arguments: blank-separated, a double-quoted one may hold blanks."""
    return [a[1:-1].replace('""', '"') if a.startswith('"') else a
            for a in re.findall(r'"(?:[^"]|"")*"|\S+', rest)]


class Page:
    """A man page read from its roff source: its sections' text, and its tagged
    paragraphs (.TP, with .TQ for more tags), each with its section,
    subsection, tags and body, as plain text."""

    def __init__(self, path):
        self.path = path
        self.title = None          # .TH's arguments
        self.text = {}             # section -> its text lines
        self.items = []            # {"section", "subsection", "tags", "body"}
        section = subsection = item = None
        want_tag = False
        depth = 0                  # .RS nesting: a .PP inside keeps the item
        pending = ""               # text that ended with \c, joined to the next
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for n, line in enumerate(lines, 1):
            where = "%s:%d" % (os.path.basename(path), n)
            if line.startswith('.\\"') or line in (".", ""):
                continue
            text = line
            m = re.match(r"\.(\w+)\s*(.*)$", line)
            if m:
                name, args = m.group(1), macro_args(m.group(2))
                if name == "TH":
                    self.title = [unescape(a, where) for a in args]
                    continue
                if name in ("SH", "SS"):
                    heading = unescape(" ".join(args), where)
                    if name == "SH":
                        section, subsection = heading, None
                    else:
                        subsection = heading
                    item, depth = None, 0
                    continue
                if name == "TP":
                    item = {"section": section, "subsection": subsection, "tags": [], "body": []}
                    self.items.append(item)
                    want_tag = True
                    continue
                if name == "TQ":
                    want_tag = True
                    continue
                if name == "RS":
                    depth += 1
                    continue
                if name == "RE":
                    depth -= 1
                    continue
                if name in ("PP", "LP", "P") and depth == 0:
                    item = None
                    continue
                if name in JOINED:
                    text = " ".join(args)
                elif name in ALTERNATING:
                    text = "".join(args)
                elif name == "OP":
                    text = "[%s]" % " ".join(args)
                elif name == "SY":
                    text = " ".join(args)
                else:
                    continue       # layout only: .PP .IP .EX .EE .nf .fi .YS .nr .nh .ad ...
            joined = text.endswith("\\c")
            text = pending + unescape(text[:-2] if joined else text, where)
            if joined:
                pending = text
                continue
            pending = ""
            self.text.setdefault(section, []).append(text)
            if want_tag and item is not None:
                item["tags"].append(text)
                want_tag = False
            elif item is not None:
                item["body"].append(text)

    def section(self, name):
        return "\n".join(self.text.get(name, []))

    def tagged(self, section, subsection=None):
        return [i for i in self.items if i["section"] == section
                and (subsection is None or i["subsection"] == subsection)]


def bracketed(text):
    """The top-level [...] groups of a text, brackets included."""
    groups, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "]" and depth > 0:
            depth -= 1
            if depth == 0:
                groups.append(text[start:i + 1])
    return groups


def numbers(text):
    """The numbers a text states (5, 0.001, 127.0.0.1, 0660), not the digits
    of a word such as IPv4."""
    return set(re.findall(r"(?<![A-Za-z0-9.])\d+(?:\.\d+)*", text))

# ---------------------------------------------------------------- --help


class Help:
    """sockserv --help, read the way a user reads it: its sections, its options
    (their names with the value, and their descriptions), its synopsis."""

    def __init__(self):
        code, out, err = run(["--help"])
        if code != 0:
            raise AssertionError("sockserv --help: exit %s\n%s" % (code, err))
        self.out = out
        self.sections = {}
        head = "Usage"         # a section runs from its heading to a blank line
        for line in out.splitlines():
            m = re.match(r"^(\S[^:]*?)(?: \(.*\))?:$", line)
            if m:
                head = m.group(1)
            elif not line.strip():
                head = None
            elif head:
                self.sections.setdefault(head, []).append(line)
        self.options = {}       # "--listen URL" -> its description
        lead = None
        for line in self.sections["Options"]:
            m = re.match(r"^  (-\S.*?)(?: {2,}(.*))?$", line)
            if m:
                lead = m.group(1)
                self.options[lead] = m.group(2) or ""
            elif lead and line.startswith(" " * 4):
                self.options[lead] += " " + line.strip()

    def text(self, section):
        return "\n".join(self.sections.get(section, []))


HELP = Help()


def c_decls(body):
    """The declarations of a C struct body or of prototypes: comments dropped,
    blanks normalised, one string each."""
    body = re.sub(r"/\*.*?\*/", " ", body, flags=re.S)
    return [norm(d) for d in body.split(";") if d.strip()]


def norm(decl):
    decl = re.sub(r"\s+", " ", decl).strip()
    return re.sub(r"\s*([*(),\[\]])\s*", r"\1", decl)


def function_name(prototype):
    return re.search(r"(\w+)\(", prototype).group(1)


def field_name(decl):
    """A struct field's name, a function pointer's and an array's included."""
    return (re.search(r"\(\*(\w+)\)", decl) or re.search(r"(\w+)(?:\[\w*\])?$", decl)).group(1)


class Header:
    """include/sockserv.h: its SS_API functions, its structs, its strategies, its macros."""

    def __init__(self, text):
        code = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        self.functions = {}
        for m in re.finditer(r"^SS_API\s+([^;]*?)\s*(?:SS_PRINTF\s*\([^)]*\)\s*)?;", code, re.M):
            decl = norm(m.group(1))
            self.functions[function_name(decl)] = decl
        self.structs = {m.group(1): c_decls(m.group(2))
                        for m in re.finditer(r"typedef struct (\w+) \{(.*?)\} \1;", code, re.S)}
        m = re.search(r"typedef enum ss_strategy \{(.*?)\} ss_strategy;", code, re.S)
        self.strategies = [e.split("=")[0].strip() for e in m.group(1).split(",") if e.strip()]
        self.macros = set(re.findall(r"#define (SS_\w+)", code)) - {"SS_API", "SS_PRINTF"}
        self.version = re.search(r'#define SS_VERSION_STRING "([^"]+)"', code).group(1)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()

# ---------------------------------------------------------------- sockserv(1)


class ProgramPage(unittest.TestCase):
    """sockserv.1 against --help, which the option table prints."""

    @classmethod
    def setUpClass(cls):
        cls.page = Page(MAN1)

    def option_items(self):
        return {item["tags"][0]: " ".join(item["body"]) for item in self.page.tagged("OPTIONS")}

    def test_options_are_the_same(self):
        self.assertTrue(HELP.options, "no options found in --help:\n%s" % HELP.out)
        man = self.option_items()
        self.assertEqual(sorted(HELP.options), sorted(man),
                         "the options (with their values) of --help and of sockserv.1's OPTIONS differ")
        self.assertEqual(list(HELP.options), list(man), "sockserv.1 lists the options in another order")

    def test_each_options_numbers_are_in_its_entry(self):
        # Defaults and bounds: a number --help states for an option (printed from the
        # program's constants) that the man page's entry does not state has drifted.
        man = self.option_items()
        for option, description in HELP.options.items():
            with self.subTest(option=option):
                missing = numbers(description) - numbers(man.get(option, ""))
                self.assertFalse(missing, "sockserv.1's entry for %s does not state %s, which --help "
                                 "does: %r" % (option, sorted(missing), description))

    def test_help_options_are_the_parsers(self):
        # The third use of the option table: the parser knows each option --help
        # lists, by each of its names, and whether it takes a value.
        for lead in HELP.options:
            words = lead.replace(",", " ").split()      # "-h, --help", "--allow CIDR[,CIDR...]"
            names = [w for w in words if w.startswith("-")]
            takes_value = not words[-1].startswith("-")
            for name in names:
                with self.subTest(option=name):
                    code, _, err = run(["echo", name + "=1", "stray"])   # never starts a server
                    self.assertEqual(code, 2, err)
                    if takes_value:
                        self.assertNotIn("unknown option", err)
                        code, _, err = run(["echo", name])
                        self.assertIn("option '%s' needs a value" % name, err)
                    else:
                        self.assertIn("option '%s' takes no value" % name, err)

    def test_synopsis(self):
        usage = HELP.text("Usage")
        synopsis = self.page.section("SYNOPSIS")
        self.assertEqual(bracketed(usage), bracketed(synopsis), "the synopses list other options")
        for word in re.findall(r"(?<![\w-])-[-\w]+", usage.replace("[", " ").replace("]", " ")):
            self.assertIn(word, synopsis, "sockserv.1's synopsis lacks %s" % word)
        for command in ("echo", "chat"):
            self.assertIn(command, synopsis)
            self.assertIn(command, [i["tags"][0] for i in self.page.tagged("DESCRIPTION")],
                          "sockserv.1 does not describe the %s command" % command)

    def test_modes_are_the_same(self):
        help_modes = HELP.text("MODE").split()
        man_modes = [i["tags"][0] for i in self.page.tagged("MODES")]
        self.assertEqual(help_modes, man_modes)

    def test_exit_statuses_are_the_same(self):
        help_codes = re.findall(r"^  (\d+)  ", HELP.text("Exit status"), re.M)
        man_codes = [i["tags"][0] for i in self.page.tagged("EXIT STATUS")]
        self.assertTrue(help_codes)
        self.assertEqual(help_codes, man_codes)

    def test_signals_are_the_same(self):
        help_signals = set(re.findall(r"\bSIG[A-Z0-9]+", HELP.text("Signals")))
        man_signals = set(re.findall(r"\bSIG[A-Z0-9]+", " ".join(
            t for i in self.page.tagged("SIGNALS") for t in i["tags"])))
        self.assertTrue(help_signals)
        self.assertEqual(help_signals, man_signals)

    def test_version(self):
        code, out, _ = run(["--version"])
        self.assertEqual(code, 0)
        self.assertEqual(self.page.title[:2], ["SOCKSERV", "1"])
        self.assertEqual(self.page.title[3], out.strip(), "sockserv.1's .TH names another version")

    def test_sections(self):
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "URLS", "MODES", "OUTPUT", "CHAT",
                        "SIGNALS", "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"):
            self.assertIn(section, self.page.text, "sockserv.1 has no %s section" % section)
        examples = self.page.section("EXAMPLES")
        for what in ("unix:", "sockserv chat"):
            self.assertIn(what, examples, "sockserv.1's examples show no %s" % what)

# ---------------------------------------------------------------- sockserv(3)


class LibraryPage(unittest.TestCase):
    """sockserv.3 against include/sockserv.h."""

    @classmethod
    def setUpClass(cls):
        cls.page = Page(MAN3)
        cls.header = Header(read(HEADER))
        synopsis = cls.page.section("SYNOPSIS")
        cls.structs = {m.group(1): c_decls(m.group(2))
                       for m in re.finditer(r"typedef struct (\w+) \{(.*?)\} \1;", synopsis, re.S)}
        rest = re.sub(r"typedef \w+ (\w+) \{.*?\} \1;", " ", synopsis, flags=re.S)
        rest = re.sub(r"^\s*#.*$", " ", rest, flags=re.M)
        cls.prototypes = {}
        for decl in c_decls(rest):
            if "(" in decl and not decl.startswith("typedef"):
                cls.prototypes[function_name(decl)] = decl
        cls.described = set()
        for item in cls.page.tagged("DESCRIPTION"):
            for tag in item["tags"]:
                cls.described.update(re.findall(r"\w+", tag))

    def test_functions_in_the_synopsis(self):
        self.assertGreater(len(self.header.functions), 40, "too few SS_API functions found in the header")
        header, man = set(self.header.functions), set(self.prototypes)
        self.assertFalse(header - man, "SS_API functions missing from sockserv.3's synopsis")
        self.assertFalse(man - header, "functions in sockserv.3's synopsis that the header lacks")

    def test_prototypes_match(self):
        for name, decl in self.header.functions.items():
            if name in self.prototypes:
                with self.subTest(function=name):
                    self.assertEqual(self.prototypes[name], decl)

    def test_functions_described(self):
        missing = set(self.header.functions) - self.described
        self.assertFalse(missing, "functions without an entry in sockserv.3's DESCRIPTION")
        extra = {w for w in self.described if w.startswith("ss_") and w not in self.header.functions
                 and w not in self.header.structs}
        self.assertFalse(extra, "sockserv.3 describes functions that the header lacks")

    def test_structs_match(self):
        for name in ("ss_config", "ss_stats", "ss_handler"):
            with self.subTest(struct=name):
                self.assertIn(name, self.structs, "sockserv.3's synopsis does not show %s" % name)
                self.assertEqual(self.structs[name], self.header.structs[name])

    def test_fields_described(self):
        for name in ("ss_config", "ss_stats", "ss_handler"):
            fields = {field_name(d) for d in self.header.structs[name]}
            with self.subTest(struct=name):
                self.assertFalse(fields - self.described,
                                 "fields of %s without an entry in sockserv.3's DESCRIPTION" % name)

    def test_strategies_and_macros(self):
        self.assertFalse(set(self.header.strategies) - self.described, "strategies not described")
        text = "\n".join("\n".join(lines) for lines in self.page.text.values())
        self.assertFalse({m for m in self.header.macros if m not in text}, "macros sockserv.3 never names")

    def test_version_and_sections(self):
        self.assertEqual(self.page.title[:2], ["SOCKSERV", "3"])
        self.assertEqual(self.page.title[3], "sockserv " + self.header.version)
        for section in ("NAME", "LIBRARY", "SYNOPSIS", "DESCRIPTION", "RETURN VALUE", "ERRORS", "NOTES",
                        "EXAMPLES", "SEE ALSO"):
            self.assertIn(section, self.page.text, "sockserv.3 has no %s section" % section)
        for group in ("Server life cycle", "Request I/O", "Helpers"):
            self.assertIn(group, {i for i in (x["subsection"] for x in self.page.items) if i})

# ---------------------------------------------------------------- rendering


def render_env():
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MANPAGER="cat", PAGER="cat")
    env.pop("MANOPT", None)
    return env


class Rendering(unittest.TestCase):
    """The pages format without a warning and fit 80 columns."""

    def test_groff(self):
        require(shutil.which("groff"), "groff is not installed: the pages' rendering is not checked",
                MAN_INSTALL_HINT)
        for page in (MAN1, MAN3):
            with self.subTest(page=os.path.basename(page)):
                p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", page], env=render_env(),
                                   capture_output=True, timeout=60 * SLOW)
                self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
                self.assertEqual(p.stderr.decode(errors="replace"), "", "groff -ww warns")
                wide = [ln for ln in p.stdout.decode().splitlines() if len(ln) > 80]
                self.assertFalse(wide, "lines wider than 80 columns")

    def test_man(self):
        require(shutil.which("man"), "man is not installed: the pages' rendering by man -l is not checked",
                MAN_INSTALL_HINT)
        for page in (MAN1, MAN3):
            with self.subTest(page=os.path.basename(page)):
                p = subprocess.run(["man", "--warnings", "-l", page], env=render_env(),
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60 * SLOW)
                self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
                self.assertEqual(p.stderr.decode(errors="replace"), "", "man --warnings -l warns")
                self.assertIn(b"SOCKSERV", p.stdout)

# ---------------------------------------------------------------- install


class Install(unittest.TestCase):
    """cmake --install puts sockserv.1 and sockserv.3 under MANDIR/man1 and man3."""

    def test_installed(self):
        build = os.path.dirname(os.path.abspath(BIN))
        cache = os.path.join(build, "CMakeCache.txt")
        require(os.path.exists(cache), "%s is not in a CMake build directory" % BIN)
        require(shutil.which("cmake"), "cmake is not installed", "apt-get install cmake")
        with tempfile.TemporaryDirectory(prefix="sockserv-man-") as prefix:
            # The man component alone: its own manifest (install_manifest_man.txt),
            # so that the install tests' install_manifest.txt is left alone.
            p = subprocess.run(["cmake", "--install", build, "--prefix", prefix, "--component", "man"],
                               capture_output=True, timeout=120 * SLOW)
            self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
            with open(os.path.join(build, "install_manifest_man.txt")) as f:
                installed = sorted(line.strip() for line in f if line.strip())
            self.assertEqual(len(installed), 2, "expected the two pages installed: %s" % installed)
            mandir = os.path.dirname(os.path.dirname(installed[0]))
            self.assertTrue(mandir.startswith(prefix + os.sep) and os.path.basename(mandir) == "man",
                            "not installed in PREFIX/.../man: %s" % installed)
            for path, page in zip(installed, (MAN1, MAN3)):
                section = page[-1]
                self.assertEqual(path, os.path.join(mandir, "man" + section, os.path.basename(page)))
                self.assertTrue(os.path.isfile(path), "%s not installed" % path)
                self.assertEqual(read(path), read(page))


if __name__ == "__main__":
    unittest.main(verbosity=2)
