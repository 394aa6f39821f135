// husk exec init in C; see execinit.c.
#ifndef HUSK_EXECINIT_H
#define HUSK_EXECINIT_H
#include <stddef.h>

// husk_exec_init sets up and execs the process described by the BOOT_EXEC record blob, reporting
// over syncfd. It never returns.
void husk_exec_init(int syncfd, const char *blob, size_t bloblen) __attribute__((noreturn));

// husk_json_escape writes in as the inside of a JSON string (nsenter.c).
void husk_json_escape(char *out, size_t outsz, const char *in);

#endif
