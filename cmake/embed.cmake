# Turns a file into a C source holding its bytes, at build time:
#   cmake -DIN=page.html -DOUT=page.c -DNAME=console_page -P embed.cmake
# defines `const unsigned char NAME[]` (NUL-terminated) and
# `const size_t NAME_len` (without the NUL). The output lives in the build
# folder only; the source file stays readable and editable as what it is.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR len "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 16 bytes a line keeps the generated file diffable when debugging
string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "/* generated from ${IN} by cmake/embed.cmake: do not edit */\n"
  "#include <stddef.h>\n"
  "const unsigned char ${NAME}[] = {\n${bytes}0x00 };\n"
  "const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
