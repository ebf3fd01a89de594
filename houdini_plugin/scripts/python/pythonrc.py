"""dccfutures' start-up in Houdini (Houdini runs every pythonrc.py on its path): with the UI,
watch the farm and tell the artist when their jobs end. Quiet in hython (farm workers)."""


def _dccfutures_startup():
    try:
        import hou
        if not hou.isUIAvailable():
            return
        from dccfutures import notify
        notify.watch()
    except Exception as error:  # never break Houdini's start-up
        print("dccfutures: not watching the farm: %s" % error)


_dccfutures_startup()
