# sockserv_ldconfig.cmake: at install time, run ldconfig when the library went into a directory the loader searches, else say how programs find it.
#
# The install step includes this (install(CODE) in CMakeLists.txt) with SS_LIBDIR,
# the library directory: relative to CMAKE_INSTALL_PREFIX (which `--prefix`
# sets) or absolute. A new library in /usr/local/lib is found by programs only
# once ldconfig has refreshed the loader's cache, so ldconfig runs when all of
# these hold:
#  - DESTDIR is empty (a staged install, as for a package, is not this system);
#  - we run as root (only root can write the cache);
#  - the directory is one the loader searches: listed in /etc/ld.so.conf or a
#    file it includes, or /lib*, /usr/lib* (where the loader always looks).
# Otherwise it prints what to do instead. It never fails the install: a missing
# or failing ldconfig is reported, and the install goes on.
#
# For the tests (tests/install/test_ldconfig.sh), with `cmake -P`: SS_LD_SO_CONF
# replaces /etc/ld.so.conf, SS_LDCONFIG the ldconfig program, SS_LDCONFIG_UID
# the user id.

if(NOT DEFINED SS_LIBDIR)
  set(SS_LIBDIR lib)
endif()
if(NOT DEFINED SS_LD_SO_CONF)
  set(SS_LD_SO_CONF /etc/ld.so.conf)
endif()

# The directories a loader configuration file lists, following its
# "include GLOB" lines (relative globs are relative to the including file).
function(ss_ld_conf_dirs file depth out)
  set(dirs)
  if(depth LESS 8 AND EXISTS "${file}" AND NOT IS_DIRECTORY "${file}")
    get_filename_component(here "${file}" DIRECTORY)
    file(STRINGS "${file}" lines)
    foreach(line IN LISTS lines)
      string(REGEX REPLACE "#.*" "" line "${line}")
      string(STRIP "${line}" line)
      if(line MATCHES "^include[ \t]+(.+)$")
        separate_arguments(globs UNIX_COMMAND "${CMAKE_MATCH_1}")
        foreach(pattern IN LISTS globs)
          if(NOT IS_ABSOLUTE "${pattern}")
            set(pattern "${here}/${pattern}")
          endif()
          file(GLOB included "${pattern}")
          list(SORT included)
          math(EXPR deeper "${depth} + 1")
          foreach(f IN LISTS included)
            ss_ld_conf_dirs("${f}" ${deeper} sub)
            list(APPEND dirs ${sub})
          endforeach()
        endforeach()
      elseif(line MATCHES "^/")
        # One or more directories, separated by blanks, commas or colons.
        string(REGEX REPLACE "[ \t,:]+" ";" entries "${line}")
        foreach(d IN LISTS entries)
          string(REGEX REPLACE "=.*" "" d "${d}") # an old "dir=TYPE" entry
          if(d)
            get_filename_component(d "${d}" REALPATH)
            list(APPEND dirs "${d}")
          endif()
        endforeach()
      endif()
    endforeach()
  endif()
  set(${out} "${dirs}" PARENT_SCOPE)
endfunction()

function(ss_ldconfig)
  if(IS_ABSOLUTE "${SS_LIBDIR}")
    set(libdir "${SS_LIBDIR}")
  else()
    set(libdir "${CMAKE_INSTALL_PREFIX}/${SS_LIBDIR}")
  endif()
  get_filename_component(libdir "${libdir}" REALPATH)
  set(otherwise "so a program linked with libsockserv.so finds it only when told where it is: \
link it with -Wl,-rpath,${libdir} (or -Wl,-rpath,$(pkg-config --variable=libdir sockserv)), \
run it with LD_LIBRARY_PATH=${libdir}, or link libsockserv.a instead (README.md, \"Building a program against it\")")

  if(NOT "$ENV{DESTDIR}" STREQUAL "")
    message(STATUS "sockserv: staged install (DESTDIR): ldconfig is left to the package's own scripts")
    return()
  endif()

  # (list(FIND), not if(IN_LIST): an install script runs with the old policies.)
  ss_ld_conf_dirs("${SS_LD_SO_CONF}" 0 searched)
  list(FIND searched "${libdir}" at)
  if(at LESS 0 AND NOT libdir MATCHES "^/(usr/)?lib[^/]*(/[^/]+-linux-[^/]+)?$")
    message(STATUS "sockserv: ${libdir} is not in the loader's search path (${SS_LD_SO_CONF}), ${otherwise}")
    return()
  endif()

  if(DEFINED SS_LDCONFIG_UID)
    set(uid "${SS_LDCONFIG_UID}")
  else()
    execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      set(uid unknown)
    endif()
  endif()
  if(NOT uid STREQUAL "0")
    message(STATUS "sockserv: not running as root, so ldconfig was not run: run `sudo ldconfig` once, \
else programs do not find the new libsockserv.so.0 in ${libdir}")
    return()
  endif()

  if(DEFINED SS_LDCONFIG)
    set(ldconfig "${SS_LDCONFIG}")
  else()
    find_program(ldconfig NAMES ldconfig PATHS /sbin /usr/sbin)
  endif()
  if(NOT ldconfig OR NOT EXISTS "${ldconfig}")
    message(STATUS "sockserv: ldconfig not found, so the loader's cache was not refreshed: \
run ldconfig as root, else programs do not find the new libsockserv.so.0 in ${libdir}")
    return()
  endif()
  execute_process(COMMAND "${ldconfig}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc EQUAL 0)
    message(STATUS "sockserv: ran ${ldconfig}: programs find libsockserv.so.0 in ${libdir}")
  else()
    string(STRIP "${out}" out)
    message(WARNING "sockserv: ${ldconfig} failed (${rc}): ${out}\n"
      "The library is installed; run ldconfig as root once that is fixed, ${otherwise}.")
  endif()
endfunction()

ss_ldconfig()
