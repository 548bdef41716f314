/* fork_gate.h: the program's helper threads and its forks exclude each other, so no child inherits a lock a helper held mid-work. */
#ifndef SOCKSERV_FORK_GATE_H
#define SOCKSERV_FORK_GATE_H

/*
 * A request process (forking mode) is forked by a serving thread while the
 * program's helper threads (the chat broker, the signal helper) may be in
 * the middle of work that takes locks: an allocator's (AddressSanitizer's
 * in GCC 12 does not prepare for fork), hiredis's, stdio's. A child that
 * inherited one held would hang at its first use. A helper holds the gate
 * while it works (never while it waits), and every fork of the process
 * waits for the gate and holds it across the fork.
 */
void fork_gate_enter(void);
void fork_gate_leave(void);

#endif
