/**
 * Seeded pseudo-random numbers for the synthetic data generator. Each patient
 * gets its own stream derived from (seed, patient index), so patient N is the
 * same whether 200 or 100,000 patients are generated, and any range of
 * patients can be generated independently.
 */
import { FAMILY_NAMES, GIVEN_NAMES_FEMALE, GIVEN_NAMES_MALE } from './codes.js';

const HEX_DIGIT = '0123456789abcdef';
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream: number) {
    // sfc32 state from splitmix32 of the seed and the stream number.
    let x = (Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bool(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Normally distributed (Box-Muller). */
  normal(mean: number, sd: number): number {
    const u = 1 - this.next();
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * A version-4-shaped UUID from this stream: four 32-bit draws written as hex,
   * the version nibble set to 4 and the variant nibble to 8–b. Written with a
   * byte table rather than toString/padStart/join/slice: it was 11% of the
   * generator's time (seed:large at a million patients draws ~70 million).
   */
  uuid(): string {
    const w0 = Math.floor(this.next() * 4294967296);
    const w1 = Math.floor(this.next() * 4294967296);
    const w2 = Math.floor(this.next() * 4294967296);
    const w3 = Math.floor(this.next() * 4294967296);
    return HEX_BYTE[w0 >>> 24]! + HEX_BYTE[(w0 >>> 16) & 0xff]! + HEX_BYTE[(w0 >>> 8) & 0xff]! + HEX_BYTE[w0 & 0xff]! + '-'
      + HEX_BYTE[w1 >>> 24]! + HEX_BYTE[(w1 >>> 16) & 0xff]! + '-4'
      + HEX_DIGIT[(w1 >>> 8) & 0xf]! + HEX_BYTE[w1 & 0xff]! + '-'
      + HEX_DIGIT[((w2 >>> 28) & 0x3) | 0x8]! + HEX_DIGIT[(w2 >>> 24) & 0xf]! + HEX_BYTE[(w2 >>> 16) & 0xff]! + '-'
      + HEX_BYTE[(w2 >>> 8) & 0xff]! + HEX_BYTE[w2 & 0xff]!
      + HEX_BYTE[w3 >>> 24]! + HEX_BYTE[(w3 >>> 16) & 0xff]! + HEX_BYTE[(w3 >>> 8) & 0xff]! + HEX_BYTE[w3 & 0xff]!;
  }

  digits(count: number): string {
    let s = '';
    for (let i = 0; i < count; i++) s += this.int(0, 9);
    return s;
  }

  personName(sex: 'female' | 'male'): { family: string; given: string } {
    return { family: this.pick(FAMILY_NAMES), given: this.pick(sex === 'female' ? GIVEN_NAMES_FEMALE : GIVEN_NAMES_MALE) };
  }
}
