"""Linux desktop integration files, installed as ``mangacolor_app.xdg``.

The desktop entry, the AppStream metainfo, the shared-mime-info type of ``.mcproj`` projects and the
hicolor icons, all named after the app id ``org.mangacolor.MangaColor``. ``mangacolor install-desktop``
(:mod:`mangacolor_app.desktop_install`) copies them into the user's XDG data folder.
"""
