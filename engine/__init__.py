"""Kredo's decision core: pure logic, stores injected, no Flask and no I/O."""
