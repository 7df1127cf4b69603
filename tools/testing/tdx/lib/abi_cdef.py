# SPDX-License-Identifier: GPL-2.0-only
"""cffi declarations of the KVM/TDX uAPI structs (x86-64) and the libc calls HostSystem uses.

Names follow the kernel's uapi headers (include/uapi/linux/kvm.h and
arch/x86/include/uapi/asm/kvm.h); layouts are the ones tabulated in
docs/kvm-tdx-uapi.md (cited by section). Only what the suite uses is
declared; arms of unions that do not matter on x86 are covered by the union's padding.

This module holds only the text: abi_build.py compiles it into the out-of-line module
_abi_ffi.py, and abi.py parses it at import time only when that module is missing or stale.
Editing CDEF makes the generated module stale until `make` (or abi_build) runs again.
"""

import zlib

CDEF = r"""
typedef unsigned char      __u8;
typedef unsigned short     __u16;
typedef unsigned int       __u32;
typedef unsigned long long __u64;
typedef signed char        __s8;
typedef short              __s16;
typedef int                __s32;
typedef long long          __s64;

/* ---- vCPU register state (KVM_GET/SET_REGS, _SREGS) ---- */

struct kvm_regs {
    __u64 rax, rbx, rcx, rdx;
    __u64 rsi, rdi, rsp, rbp;
    __u64 r8, r9, r10, r11;
    __u64 r12, r13, r14, r15;
    __u64 rip, rflags;
};

struct kvm_segment {
    __u64 base;
    __u32 limit;
    __u16 selector;
    __u8  type;
    __u8  present, dpl, db, s, l, g, avl;
    __u8  unusable;
    __u8  padding;
};

struct kvm_dtable {
    __u64 base;
    __u16 limit;
    __u16 padding[3];
};

struct kvm_sregs {
    struct kvm_segment cs, ds, es, fs, gs, ss;
    struct kvm_segment tr, ldt;
    struct kvm_dtable gdt, idt;
    __u64 cr0, cr2, cr3, cr4, cr8;
    __u64 efer;
    __u64 apic_base;
    __u64 interrupt_bitmap[4];      /* 256 interrupt lines, one bit each */
};

/* 64 bytes on x86: exception_payload is 8-aligned at 56. */
struct kvm_vcpu_events {
    struct {
        __u8  injected;
        __u8  nr;
        __u8  has_error_code;
        __u8  pending;
        __u32 error_code;
    } exception;
    struct {
        __u8 injected;
        __u8 nr;
        __u8 soft;
        __u8 shadow;
    } interrupt;
    struct {
        __u8 injected;
        __u8 pending;
        __u8 masked;
        __u8 pad;
    } nmi;
    __u32 sipi_vector;
    __u32 flags;
    struct {
        __u8 smm;
        __u8 pending;
        __u8 smm_inside_nmi;
        __u8 latched_init;
    } smi;
    struct {
        __u8 pending;
    } triple_fault;
    __u8  reserved[26];
    __u8  exception_has_payload;
    __u64 exception_payload;
};

struct kvm_sync_regs {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_vcpu_events events;
};

struct kvm_mp_state {
    __u32 mp_state;
};

struct kvm_interrupt {
    __u32 irq;
};

/* KVM_SIGNAL_MSI (kvm.h): an MSI message for the VM's in-kernel (or split) irqchip */
struct kvm_msi {
    __u32 address_lo;
    __u32 address_hi;
    __u32 data;
    __u32 flags;
    __u32 devid;
    __u8  pad[12];
};

/* ---- guest debug ---- */

struct kvm_debug_exit_arch {
    __u32 exception;
    __u32 pad;
    __u64 pc;
    __u64 dr6;
    __u64 dr7;
};

struct kvm_guest_debug_arch {
    __u64 debugreg[8];
};

struct kvm_guest_debug {
    __u32 control;
    __u32 pad;
    struct kvm_guest_debug_arch arch;
};

/* asm/kvm.h: the in-kernel local APIC's register page (KVM_APIC_REG_SIZE) */
struct kvm_lapic_state {
    char regs[1024];
};

/* ---- CPUID and MSRs ---- */

/* 40 bytes, docs/kvm-tdx-uapi.md §2.3 */
struct kvm_cpuid_entry2 {
    __u32 function;
    __u32 index;
    __u32 flags;
    __u32 eax;
    __u32 ebx;
    __u32 ecx;
    __u32 edx;
    __u32 padding[3];
};

struct kvm_cpuid2 {
    __u32 nent;
    __u32 padding;
    struct kvm_cpuid_entry2 entries[];
};

struct kvm_msr_entry {
    __u32 index;
    __u32 reserved;
    __u64 data;
};

struct kvm_msrs {
    __u32 nmsrs;
    __u32 pad;
    struct kvm_msr_entry entries[];
};

struct kvm_msr_list {
    __u32 nmsrs;
    __u32 indices[];
};

/* 24 bytes; the filter is 8 + 16 * 24 = 392 (docs/kvm-tdx-uapi.md §4.13) */
struct kvm_msr_filter_range {
    __u32 flags;
    __u32 nmsrs;
    __u32 base;
    __u8 *bitmap;
};

struct kvm_msr_filter {
    __u32 flags;
    struct kvm_msr_filter_range ranges[16];
};

/* ---- VM setup ---- */

struct kvm_enable_cap {
    __u32 cap;
    __u32 flags;
    __u64 args[4];
    __u8  pad[64];
};

struct kvm_userspace_memory_region {
    __u32 slot;
    __u32 flags;
    __u64 guest_phys_addr;
    __u64 memory_size;
    __u64 userspace_addr;
};

/* 160 bytes, docs/kvm-tdx-uapi.md §3.1 */
struct kvm_userspace_memory_region2 {
    __u32 slot;
    __u32 flags;
    __u64 guest_phys_addr;
    __u64 memory_size;
    __u64 userspace_addr;
    __u64 guest_memfd_offset;
    __u32 guest_memfd;
    __u32 pad1;
    __u64 pad2[14];
};

struct kvm_create_guest_memfd {
    __u64 size;
    __u64 flags;
    __u64 reserved[6];
};

struct kvm_memory_attributes {
    __u64 address;
    __u64 size;
    __u64 attributes;
    __u64 flags;
};

struct kvm_pre_fault_memory {
    __u64 gpa;
    __u64 size;
    __u64 flags;
    __u64 padding[5];
};

/* PIC state only: the IOAPIC arm uses bitfields and is not needed; dummy fixes the size. */
struct kvm_pic_state {
    __u8 last_irr;
    __u8 irr;
    __u8 imr;
    __u8 isr;
    __u8 priority_add;
    __u8 irq_base;
    __u8 read_reg_select;
    __u8 poll;
    __u8 special_mask;
    __u8 init_state;
    __u8 auto_eoi;
    __u8 rotate_on_auto_eoi;
    __u8 special_fully_nested_mode;
    __u8 init4;
    __u8 elcr;
    __u8 elcr_mask;
};

struct kvm_irqchip {
    __u32 chip_id;
    __u32 pad;
    union {
        char dummy[512];
        struct kvm_pic_state pic;
    } chip;
};

/* ---- TDX (KVM_MEMORY_ENCRYPT_OP), docs/kvm-tdx-uapi.md §2 ---- */

struct kvm_tdx_cmd {
    __u32 id;
    __u32 flags;
    __u64 data;
    __u64 hw_error;
};

/* cpuid header at 2048 (docs/kvm-tdx-uapi.md §2.2) */
struct kvm_tdx_capabilities {
    __u64 supported_attrs;
    __u64 supported_xfam;
    __u64 kernel_tdvmcallinfo_1_r11;
    __u64 user_tdvmcallinfo_1_r11;
    __u64 kernel_tdvmcallinfo_1_r12;
    __u64 user_tdvmcallinfo_1_r12;
    __u64 reserved[250];
    struct kvm_cpuid2 cpuid;
};

/* cpuid header at 256 (docs/kvm-tdx-uapi.md §2.3) */
struct kvm_tdx_init_vm {
    __u64 attributes;
    __u64 xfam;
    __u64 mrconfigid[6];
    __u64 mrowner[6];
    __u64 mrownerconfig[6];
    __u64 reserved[12];
    struct kvm_cpuid2 cpuid;
};

struct kvm_tdx_init_mem_region {
    __u64 source_addr;
    __u64 gpa;
    __u64 nr_pages;
};

/* ---- the shared vCPU page (mmap of the vCPU fd), docs/kvm-tdx-uapi.md §5 ---- */

struct kvm_run {
    __u8  request_interrupt_window;
    __u8  immediate_exit;
    __u8  padding1[6];

    __u32 exit_reason;
    __u8  ready_for_interrupt_injection;
    __u8  if_flag;
    __u16 flags;

    __u64 cr8;
    __u64 apic_base;

    union {
        struct {
            __u64 hardware_exit_reason;
        } hw;
        struct {
            __u64 hardware_entry_failure_reason;
            __u32 cpu;
        } fail_entry;
        struct {
            __u32 exception;
            __u32 error_code;
        } ex;
        struct {
            __u8  direction;
            __u8  size;
            __u16 port;
            __u32 count;
            __u64 data_offset;      /* from the start of kvm_run */
        } io;
        struct {
            struct kvm_debug_exit_arch arch;
        } debug;
        struct {
            __u64 phys_addr;
            __u8  data[8];
            __u32 len;
            __u8  is_write;
        } mmio;
        struct {
            __u64 nr;
            __u64 args[6];
            __u64 ret;
            union {
                __u32 longmode;
                __u64 flags;
            };
        } hypercall;
        struct {
            __u64 rip;
            __u32 is_write;
            __u32 pad;
        } tpr_access;
        struct {
            __u32 suberror;
            __u32 ndata;
            __u64 data[16];
        } internal;
        /* overlay of internal for KVM_INTERNAL_ERROR_EMULATION */
        struct {
            __u32 suberror;
            __u32 ndata;
            __u64 flags;
            union {
                struct {
                    __u8 insn_size;
                    __u8 insn_bytes[15];
                };
            };
        } emulation_failure;
        struct {
            __u32 type;
            __u32 ndata;
            union {
                __u64 flags;
                __u64 data[16];
            };
        } system_event;
        struct {
            __u8 vector;
        } eoi;
        struct {
            __u8  error;
            __u8  pad[7];
            __u32 reason;
            __u32 index;
            __u64 data;
        } msr;
        struct {
            __u32 flags;
        } notify;
        struct {
            __u64 flags;
            __u64 gpa;
            __u64 size;
        } memory_fault;
        struct {
            __u64 flags;
            __u64 nr;
            union {
                struct {
                    __u64 ret;
                    __u64 data[5];
                } unknown;
                struct {
                    __u64 ret;
                    __u64 gpa;
                    __u64 size;
                } get_quote;
                struct {
                    __u64 ret;
                    __u64 leaf;
                    __u64 r11, r12, r13, r14;
                } get_tdvmcall_info;
                struct {
                    __u64 ret;
                    __u64 vector;
                } setup_event_notify;
            };
        } tdx;
        char padding[256];          /* the exit union is always 256 bytes */
    };

    __u64 kvm_valid_regs;
    __u64 kvm_dirty_regs;
    union {
        struct kvm_sync_regs regs;
        char padding[2048];
    } s;
};

/* ---- libc, for HostSystem (internals.md 1) ---- */

int open(const char *pathname, int flags, ...);
int close(int fd);
/* ioctl(2) is variadic; declared with its one argument fixed, because cffi
 * prepares a new libffi call for every call of a variadic function (about
 * 0.4 us, against ~7 us for a whole KVM_RUN round trip).  The call is the same
 * on x86-64: integer and pointer arguments go in the same registers either
 * way, and libffi always loads %al with the number of vector registers used
 * (0 here), as a caller of a variadic function must. */
int ioctl(int fd, unsigned long request, void *arg);
void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
int munmap(void *addr, size_t length);
ssize_t pread(int fd, void *buf, size_t count, long offset);
ssize_t pwrite(int fd, const void *buf, size_t count, long offset);
int fallocate(int fd, int mode, long offset, long len);
int epoll_create1(int flags);
int eventfd(unsigned int initval, int flags);
int sched_getcpu(void);
"""


def cdef_hash(text=CDEF):
    """Stamp of the cdef text: abi_build writes it into _abi_ffi.py and abi checks it.

    crc32 rather than hashlib: it only has to notice an edit, and zlib is cheap to import.
    """
    return "%08x" % zlib.crc32(text.encode("utf-8"))
