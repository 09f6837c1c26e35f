from heavylift.cli import main

main()
