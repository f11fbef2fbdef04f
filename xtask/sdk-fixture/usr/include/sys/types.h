/* Stand-in: Darwin's basic integer typedefs (LP64). */
#ifndef FIXTURE_SYS_TYPES_H
#define FIXTURE_SYS_TYPES_H
#include <stddef.h>
#include <stdint.h>
typedef unsigned char __uint8_t;
typedef unsigned short __uint16_t;
typedef unsigned int __uint32_t;
typedef unsigned char u_char;
typedef unsigned char u_int8_t;
typedef __uint8_t sa_family_t;
typedef __uint32_t in_addr_t;
typedef __uint16_t in_port_t;
#endif
