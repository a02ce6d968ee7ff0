// Block device names (resolve kind 3): this VM's real disks and a fixture /sys/dev/block.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlockDevices, decodeKernelDev } from '../../src/resolve/block-devices.js';

const kdev = (major: number, minor: number): number => ((major << 20) | minor) >>> 0;

/** glibc's userspace dev_t (stat's st_dev) → its major and minor. */
function userspaceDev(dev: bigint): { major: number; minor: number } {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { major, minor };
}

describe('real /sys/dev/block', () => {
  it('names the root filesystem disk vda from the dev_t of /', () => {
    const { major, minor } = userspaceDev(statSync('/', { bigint: true }).dev);
    const devices = new BlockDevices();
    expect(devices.name(kdev(major, minor))).toBe('vda');
    expect(devices.name(BigInt(kdev(major, minor)))).toBe('vda'); // bigint ids hit the same entry
    expect(devices.stats()).toEqual({ lookups: 2, hits: 1, unknown: 0, reads: 1 });
  });

  it('names every block device the kernel lists, loop devices included, as its uevent DEVNAME', () => {
    const devices = new BlockDevices();
    const listed = readdirSync('/sys/dev/block');
    expect(listed.length).toBeGreaterThan(0);
    for (const entry of listed) {
      const [major, minor] = entry.split(':').map(Number) as [number, number];
      const devname = /^DEVNAME=(.+)$/m.exec(readFileSync(`/sys/dev/block/${entry}/uevent`, 'utf8'))![1];
      expect(devices.name(kdev(major, minor)), entry).toBe(devname);
      // Loop devices, where present, are loop<minor>.
      if (major === 7) expect(devname).toBe(`loop${minor}`);
    }
  });

  it('returns undefined for a dev_t with no device, and for ids that are no dev_t', () => {
    const devices = new BlockDevices();
    expect(devices.name(kdev(4095, 0xfffff))).toBeUndefined();
    expect(devices.name(-1)).toBeUndefined();
    expect(devices.name(2 ** 32)).toBeUndefined();
    expect(devices.name(1n << 40n)).toBeUndefined();
    expect(devices.stats().unknown).toBe(4);
  });
});

describe('decodeKernelDev', () => {
  it.each([
    [kdev(254, 0), 254, 0],
    [kdev(7, 3), 7, 3],
    [kdev(259, 0x12345), 259, 0x12345],
    [0xfff00000, 4095, 0],
  ])('%i → %i:%i', (dev, major, minor) => expect(decodeKernelDev(dev)).toEqual({ major, minor }));
});

describe('fixture /sys/dev/block', () => {
  let dir: string;
  let now: number;
  let devices: BlockDevices;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sysdevblock-'));
    now = 0;
    devices = new BlockDevices({ sysDevBlock: dir, retryIntervalMs: 1000, now: () => now });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function addDevice(entry: string, uevent: string | undefined, target?: string): void {
    if (target) {
      mkdirSync(join(dir, target), { recursive: true });
      if (uevent !== undefined) writeFileSync(join(dir, target, 'uevent'), uevent);
      symlinkSync(join(dir, target), join(dir, entry));
    } else {
      mkdirSync(join(dir, entry));
      if (uevent !== undefined) writeFileSync(join(dir, entry, 'uevent'), uevent);
    }
  }

  it.each([
    ['DEVNAME among other keys', 'MAJOR=8\nMINOR=16\nDEVNAME=sdb\nDEVTYPE=disk\n', 'sdb'],
    ['DEVNAME with a slash (cciss)', 'DEVNAME=cciss/c0d0\n', 'cciss/c0d0'],
    ['partition', 'MAJOR=259\nMINOR=1\nDEVNAME=nvme0n1p1\nDEVTYPE=partition\nPARTN=1\n', 'nvme0n1p1'],
  ])('reads %s', (_, uevent, name) => {
    addDevice('8:16', uevent, 'devices/x/block/whatever');
    expect(devices.name(kdev(8, 16))).toBe(name);
  });

  it('falls back to the device directory name without DEVNAME or without uevent', () => {
    addDevice('8:0', 'MAJOR=8\nMINOR=0\n', 'devices/pci/block/sda');
    addDevice('8:1', undefined, 'devices/pci/block/sda/sda1');
    expect(devices.name(kdev(8, 0))).toBe('sda');
    expect(devices.name(kdev(8, 1))).toBe('sda1');
  });

  it('re-reads an unknown dev_t at most once per interval, then caches the name', () => {
    const dev = kdev(7, 9);
    expect(devices.name(dev)).toBeUndefined();
    addDevice('7:9', 'DEVNAME=loop9\n');
    now = 999;
    expect(devices.name(dev)).toBeUndefined(); // rate-limited: no read
    expect(devices.stats()).toMatchObject({ reads: 1, unknown: 2 });
    now = 1000;
    expect(devices.name(dev)).toBe('loop9');
    expect(devices.stats()).toMatchObject({ reads: 2, hits: 0 });
    rmSync(join(dir, '7:9'), { recursive: true });
    now = 5000;
    expect(devices.name(dev)).toBe('loop9'); // names are cached: no read per lookup
    expect(devices.stats()).toEqual({ lookups: 4, hits: 1, unknown: 2, reads: 2 });
  });

  it('rate-limits each dev_t on its own clock', () => {
    expect(devices.name(kdev(8, 0))).toBeUndefined();
    now = 500;
    addDevice('8:0', 'DEVNAME=sda\n');
    addDevice('8:16', 'DEVNAME=sdb\n');
    expect(devices.name(kdev(8, 16))).toBe('sdb'); // never tried: read now
    expect(devices.name(kdev(8, 0))).toBeUndefined(); // tried at 0: wait until 1000
    now = 1000;
    expect(devices.name(kdev(8, 0))).toBe('sda');
  });
});
