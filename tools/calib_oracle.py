#!/usr/bin/python3
"""calib_oracle.py — independent reference data for tempscale's calibration tests.

Writes into tests/data/ (small files, committed):
  --npy-fixtures   .npy files in every dtype / byte order / version / order the reader
                   must accept or refuse (tests/test_npy.c).

Run from the repository root with Debian's python3-numpy:
    /usr/bin/python3 tools/calib_oracle.py --npy-fixtures
"""
import argparse
import os

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'data')


def npy_fixtures():
    """A = (4i + j) * 0.5 - 1, shape (3, 4): exact in float16, so the C test compares with ==."""
    A = np.arange(12).reshape(3, 4) * 0.5 - 1.0

    def w(name, arr, version=None):
        with open(os.path.join(DATA, name), 'wb') as f:
            np.lib.format.write_array(f, arr, version=version)

    w('calib_npy_f4.npy', A.astype('<f4'))
    w('calib_npy_f8_fortran.npy', np.asfortranarray(A.astype('<f8')))
    w('calib_npy_f4_be.npy', A.astype('>f4'))
    w('calib_npy_f2.npy', A.astype('<f2'))
    w('calib_npy_f4_v2.npy', A.astype('<f4'), version=(2, 0))
    w('calib_npy_f4_v3.npy', A.astype('<f4'), version=(3, 0))
    w('calib_npy_lab_i8.npy', np.array([0, 3, 2, 1], dtype='<i8'))
    w('calib_npy_lab_u1.npy', np.array([0, 3, 2, 1], dtype='u1'))
    w('calib_npy_lab_i4_be.npy', np.array([0, 3, 2, 1], dtype='>i4'))
    w('calib_npy_lab_f4.npy', np.array([0, 3, 2, 1], dtype='<f4'))
    w('calib_npy_lab_frac.npy', np.array([0, 3, 2.5, 1], dtype='<f8'))
    w('calib_npy_lab_neg.npy', np.array([0, -1, 2, 1], dtype='<i2'))
    w('calib_npy_lab_onehot.npy', np.eye(4, dtype='<i8'))
    w('calib_npy_struct.npy', np.zeros(3, dtype=[('a', '<f4'), ('b', '<i4')]))
    # What the C writer must reproduce byte for byte.
    np.save(os.path.join(DATA, 'calib_npy_ref_write.npy'),
            np.array([[1.5, -2.25, 3.0], [0.0, 1e-3, -7.0]], dtype=np.float32))
    data = open(os.path.join(DATA, 'calib_npy_f4.npy'), 'rb').read()
    open(os.path.join(DATA, 'calib_npy_truncated.npy'), 'wb').write(data[:-5])
    open(os.path.join(DATA, 'calib_npy_badmagic.npy'), 'wb').write(b'PK\x03\x04 not a numpy file')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--npy-fixtures', action='store_true')
    args = ap.parse_args()
    if args.npy_fixtures:
        npy_fixtures()


if __name__ == '__main__':
    main()
