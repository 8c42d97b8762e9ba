"""Checks the models' outputs and that they come from the runfiles, not a download."""

import os
import unittest

import tensorflow_hub as hub

import predict


class AppTest(unittest.TestCase):
    def test_half_plus_two(self):
        self.assertEqual(predict.half_plus_two([0.0, 1.0, 4.0]), [2.0, 2.5, 4.0])

    def test_dense(self):
        # kernel [[1, -1], [2, 0], [3, 1]], bias [0.5, -0.5]
        outputs = predict.dense([[1.0, 2.0, 3.0]])
        self.assertEqual(len(outputs), 1)
        for got, want in zip(outputs[0], [14.5, 1.5]):
            self.assertAlmostEqual(got, want, places=5)

    def test_handles_resolve_to_vendored_copies(self):
        for handle in (predict.HALF_PLUS_TWO, predict.KERAS_DENSE):
            path = hub.resolve(handle)
            self.assertTrue(os.path.isfile(os.path.join(path, "saved_model.pb")), path)
            # In the runfiles tree, or (manifest-only runfiles) in the hub_model() repository.
            self.assertRegex(path, r"(\.runfiles/|/external/)tfhub_test_", path)


if __name__ == "__main__":
    unittest.main()
