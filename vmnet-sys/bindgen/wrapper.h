/* The single entry header parsed by bindgen, both at build time and by `cargo xtask bindgen`. */
#include <vmnet/vmnet.h>
#include <xpc/xpc.h>
#include <CoreFoundation/CFBase.h>
