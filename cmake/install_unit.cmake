# Install-time part of cmake/install.cmake: writes the systemd unit with
# ExecStart at the limes this installation puts in place, then installs it
# (file(INSTALL) honours DESTDIR, as cpack uses it).
file(READ "${LIMES_UNIT_SOURCE}" unit)
string(REPLACE "ExecStart=/usr/bin/limes " "ExecStart=${CMAKE_INSTALL_PREFIX}/${LIMES_BINDIR}/limes " unit "${unit}")
file(MAKE_DIRECTORY "${LIMES_UNIT_WORK}")
file(WRITE "${LIMES_UNIT_WORK}/limes.service" "${unit}")
file(INSTALL "${LIMES_UNIT_WORK}/limes.service" DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
