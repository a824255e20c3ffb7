/**
 * The parsers of bench/instructions.ts: callgrind's per-instruction costs (--dump-instr=yes,
 * compressed positions, call lines) and V8's --print-opt-code listings, joined into executed
 * instructions per function name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { costsByName, instructionCosts, optimisedCode } from '../bench/instructions.js';

// The shape callgrind 3.19 writes: absolute and relative positions, a call whose next line is
// the call's inclusive cost (not the caller's own), a second function, a repeated position.
const CALLGRIND = `# callgrind format
version: 1
creator: callgrind-3.19.0
positions: instr line
events: Ir
summary: 1234

ob=(1) /usr/bin/node
fl=(1) ???
fn=(1) 0x0000000000001000
0x1000 0 5
+4 0 5
+3 0 7
cfn=(2) 0x0000000000002000
calls=7 0x2000 0
+2 0 900
+5 0 7
-2 0 1
* 0 2

fn=(2)
0x2000 0 100
+1 0 100
`;

test('instructions bench: callgrind self costs per instruction address; call lines are not the caller\'s', () => {
  const ir = instructionCosts(CALLGRIND);
  assert.deepEqual(
    [...ir.entries()].sort((a, b) => a[0] - b[0]),
    [
      [0x1000, 5],
      [0x1004, 5],
      [0x1007, 7],
      // the call's inclusive 900 at 0x1009 is not counted; +5 from there
      [0x100c, 1 + 2],
      [0x100e, 7],
      [0x2000, 100],
      [0x2001, 100],
    ].sort((a, b) => a[0]! - b[0]!),
  );
});

const OPT_CODE = `
--- Optimized code ---
optimization_id = 3
kind = TURBOFAN
name = transcodeV9_aaaa
compiler = turbofan

Instructions (size = 12)
0x1000     0  488b59f8             REX.W movq rbx,[rcx-0x8]
0x1004     4  f6433501             testb [rbx+0x35],0x1
0x1007     7  55                   push rbp
0x100c     c  4889e5               REX.W movq rbp,rsp

Safepoints (entries = 0, byte size = 8)
0x2000  not an instruction line of this function
--- End code ---

--- Optimized code ---
name = transcodeV9_aaaa
Instructions (size = 2)
0x100e     0  c3                   retl
--- End code ---
--- Optimized code ---
name = transcodeSet
Instructions (size = 2)
0x2000     0  90                   nop
0x2001     1  90                   nop
--- End code ---
`;

test('instructions bench: --print-opt-code listings by function; costs summed per name over its code objects', () => {
  const code = optimisedCode(OPT_CODE);
  assert.deepEqual(
    code.map((c) => [c.name, c.instructions.map((i) => i.addr)]),
    [
      ['transcodeV9_aaaa', [0x1000, 0x1004, 0x1007, 0x100c]],
      ['transcodeV9_aaaa', [0x100e]],
      ['transcodeSet', [0x2000, 0x2001]],
    ],
  );
  assert.equal(code[0]!.instructions[1]!.text, 'testb [rbx+0x35],0x1');
  const by = costsByName(code, instructionCosts(CALLGRIND));
  assert.deepEqual([...by.entries()], [
    ['transcodeV9_aaaa', 5 + 5 + 7 + 3 + 7],
    ['transcodeSet', 200],
  ]);
});
