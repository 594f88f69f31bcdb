import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { canonicalBytes, canonicalJSON } from './canonical-json.ts';

/** The double whose IEEE 754 bit pattern is `hex`, as RFC 8785 Appendix B lists them. */
function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe('canonicalJSON() numbers', () => {
  // RFC 8785 Appendix B: IEEE 754 bit pattern → canonical form.
  const appendixB: Array<[string, string]> = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  for (const [bits, expected] of appendixB) {
    test(`canonicalJSON() serialises the double 0x${bits} as ${expected}`, () => {
      assert.equal(canonicalJSON(fromBits(bits)), expected);
    });
  }

  test('canonicalJSON() writes -0 as 0', () => {
    assert.equal(canonicalJSON(-0), '0');
    assert.equal(canonicalJSON([-0, { a: -0 }]), '[0,{"a":0}]');
  });

  test('canonicalJSON() serialises literals written in other forms in shortest form', () => {
    assert.equal(
      canonicalJSON(JSON.parse('[333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001]')),
      '[333333333.3333333,1e+30,4.5,0.002,1e-27]',
    );
    assert.equal(canonicalJSON(1e21), '1e+21');
    assert.equal(canonicalJSON(1e20), '100000000000000000000');
    assert.equal(canonicalJSON(0.000001), '0.000001');
    assert.equal(canonicalJSON(0.0000001), '1e-7');
  });

  test('canonicalJSON() rejects NaN and the infinities', () => {
    for (const n of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      assert.throws(() => canonicalJSON(n), RangeError);
      assert.throws(() => canonicalJSON({ nested: [n] }), RangeError);
    }
  });
});

describe('canonicalJSON() strings', () => {
  test('canonicalJSON() escapes strings as RFC 8785 §3.2.2.2 requires', () => {
    const input = '\u20ac$\u000F\u000aA\'\u0042\u0022\u005c\\"/';
    assert.equal(canonicalJSON(input), '"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"');
  });

  test('canonicalJSON() uses short escapes for \\b \\t \\n \\f \\r and \\u00xx for other controls', () => {
    assert.equal(canonicalJSON('\b\t\n\f\r\u0000\u001f\u007f'), '"\\b\\t\\n\\f\\r\\u0000\\u001f\u007f"');
  });

  test('canonicalJSON() leaves non-ASCII characters unescaped', () => {
    assert.equal(canonicalJSON('é😀\u2028'), '"é😀\u2028"');
  });
});

describe('canonicalJSON() structure', () => {
  test('canonicalJSON() sorts keys by UTF-16 code units, non-BMP keys included', () => {
    // RFC 8785 §3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16, though not by code point.
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    assert.equal(
      canonicalJSON(input),
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  test('canonicalJSON() orders uppercase before lowercase and prefixes first', () => {
    assert.equal(canonicalJSON({ b: 1, a: 2, B: 3, ab: 4, '': 5 }), '{"":5,"B":3,"a":2,"ab":4,"b":1}');
  });

  test('canonicalJSON() reproduces the RFC 8785 §3.2.2 example', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
    );
    assert.equal(
      canonicalJSON(input),
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  test('canonicalJSON() sorts nested objects and keeps array order, with no whitespace', () => {
    const value = { z: [3, { y: true, x: null }, 'a'], a: { d: { c: 1, b: [] }, a: {} } };
    assert.equal(canonicalJSON(value), '{"a":{"a":{},"d":{"b":[],"c":1}},"z":[3,{"x":null,"y":true},"a"]}');
  });

  test('canonicalJSON() drops undefined members and writes undefined array items as null, like JSON.stringify', () => {
    assert.equal(canonicalJSON({ a: undefined, b: 1 }), '{"b":1}');
    assert.equal(canonicalJSON([undefined, 1]), '[null,1]');
  });

  test('canonicalJSON() uses toJSON() such as Date has', () => {
    assert.equal(canonicalJSON({ at: new Date(0) }), '{"at":"1970-01-01T00:00:00.000Z"}');
  });

  test('canonicalJSON() rejects values JSON cannot represent', () => {
    assert.throws(() => canonicalJSON(undefined), TypeError);
    assert.throws(() => canonicalJSON(1n), TypeError);
    assert.throws(() => canonicalJSON(Symbol('s')), TypeError);
  });
});

describe('canonicalBytes()', () => {
  test('canonicalBytes() is the UTF-8 encoding of canonicalJSON()', () => {
    const value = { '€': [1.5, 'ö'] };
    assert.deepEqual(canonicalBytes(value), new TextEncoder().encode(canonicalJSON(value)));
  });
});

describe('canonicalJSON() properties', () => {
  test('canonicalJSON() is a fixed point through JSON.parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const once = canonicalJSON(value);
        assert.equal(canonicalJSON(JSON.parse(once)), once);
      }),
    );
  });

  test('canonicalJSON() denotes the same value JSON.stringify() does', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assert.deepEqual(JSON.parse(canonicalJSON(value)), JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  test('canonicalJSON() ignores key insertion order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()), (dict) => {
        const reversed = Object.fromEntries(Object.entries(dict).reverse());
        assert.equal(canonicalJSON(reversed), canonicalJSON(dict));
      }),
    );
  });
});
