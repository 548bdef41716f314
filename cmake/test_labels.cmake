# test_labels.cmake: ss_label_tests(), which gives every test its labels and the skip exit status, and the list of slow tests.

# The tests that take more than about 7 s on a 2-core machine (ctest's times,
# run alone or two at a time as make test does): labelled slow. Every other
# test is labelled quick: `ctest -L quick` (make check-quick) runs them in
# about half a minute there, against two and a half minutes for the whole suite.
set(SS_SLOW_TESTS
  unit.test_event unit.test_shutdown unit.test_stream_io
  cli.test_chat cli.test_echo cli.test_examples cli.test_metrics cli.test_processes cli.test_ready cli.test_room cli.test_signals cli.test_tls
  fault.test_fds fault.test_limits fault.test_slowloris fault.test_volume
  bench.smoke)

# The exit status of a test that has nothing to run on this machine (say an
# optional dependency is missing): ctest reports it as Skipped, not Passed.
set(SS_SKIP_EXIT 77)

# Labels each test registered so far in the calling directory (call it at the
# end of each CMakeLists.txt that adds tests): its group, the part of its name
# before the first dot (unit, cli, fault, fuzz, install, bench), then quick or
# slow; and sets its SKIP_RETURN_CODE.
function(ss_label_tests)
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(t IN LISTS tests)
    string(REGEX REPLACE "\\..*$" "" group "${t}")
    if(t IN_LIST SS_SLOW_TESTS)
      set(speed slow)
    else()
      set(speed quick)
    endif()
    set_property(TEST ${t} APPEND PROPERTY LABELS ${group} ${speed})
    set_property(TEST ${t} PROPERTY SKIP_RETURN_CODE ${SS_SKIP_EXIT})
  endforeach()
endfunction()

# Warns about each name in SS_SLOW_TESTS that no directory under `top`
# registers (a test renamed or removed would otherwise turn quick unnoticed).
function(ss_check_slow_tests top)
  set(dirs ${top})
  set(all "")
  while(dirs)
    list(POP_FRONT dirs dir)
    get_property(tests DIRECTORY ${dir} PROPERTY TESTS)
    get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
    list(APPEND all ${tests})
    list(APPEND dirs ${subdirs})
  endwhile()
  foreach(t IN LISTS SS_SLOW_TESTS)
    if(NOT t IN_LIST all)
      message(WARNING "SS_SLOW_TESTS (cmake/test_labels.cmake) names ${t}, which is no test")
    endif()
  endforeach()
endfunction()
