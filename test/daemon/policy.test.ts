/**
 * The policy file's reading and its name patterns (docs/network.md
 * "Policy"): what a rule covers and overlaps, with KBUS `*` and `%`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Daemon } from '../../src/daemon/index.js';
import { covers, hashToken, overlap, PolicyError, parsePolicy } from '../../src/daemon/policy.js';

describe('policy patterns', () => {
  test('covers: every name the binding matches is matched by the pattern', () => {
    assert.ok(covers('$.A.*', '$.A.B'));
    assert.ok(covers('$.A.*', '$.A.B.*'));
    assert.ok(covers('$.A.*', '$.A.%'));
    assert.ok(covers('$.A.%', '$.A.%'));
    assert.ok(covers('$.A.%', '$.A.B'));
    assert.ok(!covers('$.A.%', '$.A.B.C'));
    assert.ok(!covers('$.A.%', '$.A.*'));
    assert.ok(!covers('$.A.*', '$.*'));
    assert.ok(!covers('$.A.*', '$.A'));
    assert.ok(!covers('$.A.B', '$.A.*'));
  });

  test('overlap: some name is matched by both', () => {
    assert.ok(overlap('$.Public.*', '$.*'));
    assert.ok(overlap('$.*', '$.Public.*'));
    assert.ok(overlap('$.Public.%', '$.*'));
    assert.ok(overlap('$.Public.X', '$.Public.%'));
    assert.ok(!overlap('$.Public.*', '$.Secret.*'));
    assert.ok(!overlap('$.A.B.*', '$.A.%'));
    assert.ok(!overlap('$.A.%', '$.B.%'));
    assert.ok(!overlap('$.Publicity.*', '$.Public.*'));
  });
});

describe('parsePolicy', () => {
  const TOKEN_HASH = hashToken('t');

  test('users, groups and rules give each identity its grants', () => {
    const policy = parsePolicy(
      [
        `user alice token sha256:${TOKEN_HASH}`,
        'user bob cert bob.example',
        'user local unix',
        'user guest anonymous',
        'group team alice bob # a comment',
        'allow @team open 0-2,5 rw',
        'allow guest open * r',
        'allow * listen $.Public.*',
        'allow alice send $.A.% $.B.*',
      ].join('\n'),
    );
    assert.equal(policy.userForToken('t'), 'alice');
    assert.equal(policy.userForToken('u'), undefined);
    assert.equal(policy.certs.get('bob.example'), 'bob');
    assert.equal(policy.unixUser, 'local');
    assert.equal(policy.anonymousUser, 'guest');
    const alice = policy.grantsFor('alice');
    assert.equal(alice.openModes(2).mode, 3);
    assert.equal(alice.openModes(5).mode, 3);
    assert.equal(alice.openModes(3).mode, 0);
    assert.equal(policy.grantsFor('guest').openModes(200).mode, 1);
    assert.equal(alice.ruleFor('send', '$.A.X')?.line, 9);
    assert.equal(alice.ruleFor('send', '$.A.X.Y'), undefined);
    assert.ok(policy.grantsFor('guest').ruleFor('listen', '$.Public.News'));
    assert.equal(policy.grantsFor(undefined).ruleFor('listen', '$.Public.News'), undefined);
  });

  test('each kind of mistake names its line', () => {
    const cases: [string, RegExp][] = [
      ['user', /:1: 'user' needs a name/],
      ['user a token abc', /:1: .*sha256:<64 hex digits>/],
      ['user a passport x', /:1: .*token, cert, unix or anonymous/],
      ['\n\nallow a open 0 x', /:3: 'open' takes devices/],
      ['allow a send', /:1: 'send' takes one or more name patterns/],
      ['allow a send $.a-b', /:1: '\$\.a-b' is not a KBUS name/],
      ['allow a inspect now', /:1: 'inspect' takes nothing more/],
      ['deny a all', /:1: unknown keyword 'deny'/],
      ['# ok\nallow @nobody all', /:2: no group named 'nobody'/],
    ];
    for (const [text, message] of cases) {
      assert.throws(
        () => parsePolicy(text, 'p'),
        (err: unknown) => err instanceof PolicyError && message.test(err.message),
        text,
      );
    }
  });
});

describe('a reloaded policy and exposure', () => {
  test('a policy that would expose a non-loopback plain listener is refused; the old one stays', () => {
    // Never started: nothing listens, the checks are the point.
    const strict = parsePolicy(`user a token sha256:${hashToken('t')}\nallow a all\n`);
    const daemon = new Daemon({
      socket: '/nonexistent/k.sock',
      listen: ['tcp://0.0.0.0:0'],
      policy: strict,
    });
    const open = parsePolicy('user guest anonymous\nallow guest open 0 r\n');
    assert.throws(() => daemon.gateway.setPolicy(open), /would expose a listener/);
    assert.equal(daemon.gateway.gate.policy, strict);
    assert.throws(
      () =>
        new Daemon({ socket: '/nonexistent/k.sock', listen: ['tcp://0.0.0.0:0'], policy: open }),
      /not a loopback address/,
    );
  });
});
