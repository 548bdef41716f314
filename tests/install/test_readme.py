"""test_readme.py: every C and C++ snippet of README.md compiles, without a warning, against the current header and library.

usage: python3 tests/install/test_readme.py BUILD_DIR SOURCE_DIR

A ```c block is compiled as C11 with -Wall -Wextra -Werror; one with a main() is also
linked with the build's libsockserv.a (so every function it calls exists). A ```cpp
block is compiled the same way as C++17, or as C++20 when it says "C++20"; without a
C++ compiler those blocks are reported SKIPPED, with the install command. A block that
tells its reader to build with a -Wno-... flag is compiled with that flag.
"""
import os
import re
import subprocess
import sys
import tempfile

TEST = "test_readme"


def cache_value(build, name):
    """A variable of BUILD/CMakeCache.txt, or '' (unset, or NOTFOUND)."""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                m = re.match(r"%s:[A-Z]+=(.*)$" % re.escape(name), line.rstrip("\n"))
                if m:
                    return "" if m.group(1).endswith("NOTFOUND") else m.group(1)
    except OSError:
        pass
    return ""


def snippets(readme):
    """(language, first line number, text) of each fenced c/cpp block."""
    found, lang, start, body = [], None, 0, []
    with open(readme) as f:
        for number, line in enumerate(f, 1):
            fence = re.match(r"^```(\w*)\s*$", line)
            if fence and lang is None:
                lang, start, body = fence.group(1), number + 1, []
            elif fence:
                if lang in ("c", "cpp"):
                    found.append((lang, start, "".join(body)))
                lang = None
            elif lang is not None:
                body.append(line)
    return found


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: test_readme.py BUILD_DIR SOURCE_DIR")
    build, src = sys.argv[1], sys.argv[2]
    readme = os.path.join(src, "README.md")
    cc = cache_value(build, "CMAKE_C_COMPILER") or "cc"
    cxx = cache_value(build, "CMAKE_CXX_COMPILER")
    san = cache_value(build, "SS_SANITIZE")
    sanflags = ["-fsanitize=" + san] if san else []
    lib = os.path.join(build, "libsockserv.a")
    # What the static library needs besides itself (-pthread; OpenSSL's libraries when
    # built with TLS), from the build's own sockserv.pc.
    env = dict(os.environ, PKG_CONFIG_PATH=build)
    pc = subprocess.run(["pkg-config", "--static", "--libs", "sockserv"], stdout=subprocess.PIPE,
                        universal_newlines=True, env=env)
    deps = [w for w in pc.stdout.split() if w != "-lsockserv" and not w.startswith("-L")] if pc.returncode == 0 \
        else ["-pthread"]
    blocks = snippets(readme)
    if not any(lang == "c" for lang, _, _ in blocks):
        sys.exit("%s: FAIL: no ```c block found in %s" % (TEST, readme))
    failed = skipped = 0
    with tempfile.TemporaryDirectory(prefix="sockserv-readme-") as tmp:
        for i, (lang, line, text) in enumerate(blocks, 1):
            where = "README.md:%d (```%s block %d)" % (line, lang, i)
            if lang == "cpp" and not cxx:
                print("%s: SKIPPED %s: no C++ compiler in this build (Debian: apt-get install g++)" % (TEST, where),
                      flush=True)
                skipped += 1
                continue
            ext = ".c" if lang == "c" else ".cpp"
            path = os.path.join(tmp, "snippet%d%s" % (i, ext))
            with open(path, "w") as f:
                f.write(text)
            if lang == "c":
                cmd = [cc, "-std=c11"]
            else:
                cmd = [cxx, "-std=c++20" if "C++20" in text else "-std=c++17"]
            cmd += ["-Wall", "-Wextra", "-Werror"] + sorted(set(re.findall(r"-Wno-[a-z0-9-]+", text)))
            cmd += sanflags + ["-I", os.path.join(src, "include"), path]
            linked = re.search(r"\bint\s+main\s*\(", text) is not None
            if linked:
                cmd += [lib] + deps + ["-o", os.path.join(tmp, "snippet%d" % i)]
            else:
                cmd += ["-c", "-o", os.path.join(tmp, "snippet%d.o" % i)]
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            if p.returncode != 0:
                print("%s: FAIL: %s does not %s against the current header:\n$ %s\n%s"
                      % (TEST, where, "build" if linked else "compile", " ".join(cmd), p.stdout), file=sys.stderr)
                failed += 1
            else:
                print("%s: %s %s" % (TEST, where, "compiles and links" if linked else "compiles"), flush=True)
    if failed:
        sys.exit("%s: FAILED (%d of %d snippets)" % (TEST, failed, len(blocks)))
    print("%s: all %d snippets good%s" % (TEST, len(blocks) - skipped,
                                        ", %d SKIPPED (no C++ compiler)" % skipped if skipped else ""))


if __name__ == "__main__":
    main()
