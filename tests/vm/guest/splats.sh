# Kernel log lines that fail a VM run: sanitizers, lockdep, WARN/BUG/Oops,
# panics (C and Rust), RCU stalls, hung tasks, soft lockups, refcount and
# list corruption.  Sourced by the guest (lib.sh) and by the host
# (tests/vm/verdict.sh), which checks the whole serial console log of every
# VM run: a splat that scrolled out of the dmesg ring is still on the console.
SPLAT_PATTERN='KASAN|UBSAN|BUG:|WARNING:|Oops|Kernel panic|panicked|kernel BUG|Call Trace|general protection fault|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU|sleeping function called from invalid context|rcu: INFO|hung_task|blocked for more than|soft lockup|hard LOCKUP|refcount_t|list_add corruption|list_del corruption|stack-protector|printk messages dropped'
