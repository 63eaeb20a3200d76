# Installation (`cmake --install`) and the Debian package (`cpack -G DEB`).
#
#   bin/limes                              the command line
#   libexec/limes/limes-agent, limes-bench the daemon and the benchmark (limes execs them)
#   lib/systemd/system/limes.service       the hardened unit, ExecStart at the installed limes
#   lib/sysusers.d/limes.conf              the system user `limes`
#   lib/tmpfiles.d/limes.conf              /etc/limes and /var/lib/limes{,/keys}
#   share/man/man8/limes.8, man5/limes.ini.5   from docs/man/*.scd (scdoc, at build time)
#   share/bash-completion/completions/limes
#   share/doc/limes/                        docs, example configs and message bodies
#   share/limes/prometheus/                 alert rules and the Grafana dashboard
include(GNUInstallDirs)
# `make install` and cpack install what was built (build first, as
# deploy/setup.sh does) rather than re-checking the whole tree, tests
# included: cpack in the suite's .deb test stays quick.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

# `limes agent` finds limes-agent beside itself (the build tree), then at the
# same place relative to its own folder as at install time (so a package
# installed under another root or prefix works), then at the configured path.
set(LIMES_LIBEXEC_SUBDIR ${CMAKE_INSTALL_LIBEXECDIR}/limes)
file(RELATIVE_PATH LIMES_LIBEXEC_FROM_BIN /${CMAKE_INSTALL_BINDIR} /${LIMES_LIBEXEC_SUBDIR})
target_compile_definitions(limes_cli PRIVATE
  LIMES_LIBEXECDIR="${CMAKE_INSTALL_FULL_LIBEXECDIR}/limes"
  LIMES_LIBEXEC_FROM_BIN="${LIMES_LIBEXEC_FROM_BIN}")

# Man pages: written in scdoc, generated into the build folder.
find_program(SCDOC scdoc)
if(NOT SCDOC)
  message(FATAL_ERROR "scdoc not found (Debian package scdoc, for the man pages): run deploy/setup.sh")
endif()
set(LIMES_MAN_PAGES limes.8 limes.ini.5)
set(LIMES_MAN_OUT)
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/man)
foreach(page ${LIMES_MAN_PAGES})
  set(src ${CMAKE_SOURCE_DIR}/docs/man/${page}.scd)
  set(out ${CMAKE_BINARY_DIR}/man/${page})
  add_custom_command(OUTPUT ${out}
    COMMAND ${SCDOC} < ${src} > ${out}
    DEPENDS ${src}
    COMMENT "scdoc docs/man/${page}.scd"
    VERBATIM)
  list(APPEND LIMES_MAN_OUT ${out})
  string(REGEX MATCH "[0-9]$" section ${page})
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(limes_man ALL DEPENDS ${LIMES_MAN_OUT})

install(TARGETS limes RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS limes-agent RUNTIME DESTINATION ${LIMES_LIBEXEC_SUBDIR})
if(TARGET limes-bench)
  install(TARGETS limes-bench RUNTIME DESTINATION ${LIMES_LIBEXEC_SUBDIR})
endif()

# systemd files go under PREFIX/lib (systemd reads /usr/lib and
# /usr/local/lib); the unit is written at install time, when the prefix
# is known (cpack installs with its own prefix, /usr).
install(CODE "set(LIMES_UNIT_SOURCE \"${CMAKE_SOURCE_DIR}/deploy/limes.service\")
set(LIMES_UNIT_WORK \"${CMAKE_BINARY_DIR}/install-unit\")
set(LIMES_BINDIR \"${CMAKE_INSTALL_BINDIR}\")")
install(SCRIPT ${CMAKE_SOURCE_DIR}/cmake/install_unit.cmake)
install(FILES deploy/sysusers.d/limes.conf DESTINATION lib/sysusers.d)
install(FILES deploy/tmpfiles.d/limes.conf DESTINATION lib/tmpfiles.d)

install(FILES deploy/bash-completion/limes DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
file(GLOB LIMES_EXAMPLE_CONFIGS ${CMAKE_SOURCE_DIR}/deploy/examples/*.ini)
install(FILES ${LIMES_EXAMPLE_CONFIGS} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
file(GLOB LIMES_EXAMPLE_BODIES ${CMAKE_SOURCE_DIR}/docs/examples/*.json)
install(FILES ${LIMES_EXAMPLE_BODIES} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/messages)
file(GLOB LIMES_DOCS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${LIMES_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY deploy/prometheus/ DESTINATION ${CMAKE_INSTALL_DATADIR}/limes/prometheus
        PATTERN "tests" EXCLUDE)

# --- The Debian package: cpack -G DEB in the build folder ---
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME limes)
set(CPACK_PACKAGE_VENDOR "Limes")
set(CPACK_PACKAGE_CONTACT "Limes maintainers <limes@example.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "secure store-and-forward exchange agent between border agencies")
set(CPACK_PACKAGE_DESCRIPTION "One Limes agent runs at each Common Contact Point or Police and Customs
Cooperation Centre; agents exchange encrypted, signed, schema-defined messages
over ZeroMQ CURVE links, store-and-forward with signed receipts.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# the libraries the programs link, found by dpkg-shlibdeps; systemd for the
# unit, sysusers and tmpfiles; nats-server only for limes-bench's baseline
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "nats-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/prerm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR}/pkg)
include(CPack)
