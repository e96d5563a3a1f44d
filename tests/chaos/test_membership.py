"""The membership fault's two decisions, without processes: when a node's
`dynkv members --json` view shows a change finished, and which changes keep
the member count within its bounds."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "chaos"))

from cluster import settled  # noqa: E402
from nemesis import MAX_EXTRA_MEMBERS, MIN_MEMBERS, membership_changes  # noqa: E402

MEMBERS = {"node1", "node2", "node3"}


class SettledTest(unittest.TestCase):
    def test_every_member_normal_and_up_is_settled(self):
        self.assertTrue(settled({"node1": ("normal", True), "node2": ("normal", True), "node3": ("normal", True)},
                                MEMBERS))

    def test_a_joining_or_down_or_unseen_member_is_not(self):
        base = {"node1": ("normal", True), "node2": ("normal", True), "node3": ("normal", True)}
        for node, state in (("node3", ("joining", True)), ("node3", ("normal", False)), ("node3", None)):
            view = dict(base)
            if state is None:
                del view[node]
            else:
                view[node] = state
            self.assertFalse(settled(view, MEMBERS), view)

    def test_a_former_member_must_be_left_not_normal_or_leaving(self):
        view = {"node1": ("normal", True), "node2": ("normal", True), "node3": ("normal", True)}
        self.assertTrue(settled({**view, "node4": ("left", False)}, MEMBERS))
        self.assertFalse(settled({**view, "node4": ("normal", False)}, MEMBERS))  # removal not seen yet
        self.assertFalse(settled({**view, "node4": ("leaving", True)}, MEMBERS))  # still streaming away


class ChangesTest(unittest.TestCase):
    def test_at_the_minimum_nobody_leaves_or_is_removed(self):
        self.assertEqual(membership_changes(MIN_MEMBERS, 4, movable=["node2"]), ["join", "replace"])

    def test_at_the_maximum_nobody_joins(self):
        self.assertEqual(membership_changes(4 + MAX_EXTRA_MEMBERS, 4, movable=["node2"]),
                         ["leave", "remove", "replace"])

    def test_between_the_bounds_every_change_and_without_movable_nodes_only_a_join(self):
        self.assertEqual(membership_changes(5, 5, movable=["node2"]), ["join", "leave", "remove", "replace"])
        self.assertEqual(membership_changes(5, 5, movable=[]), ["join"])


if __name__ == "__main__":
    unittest.main()
